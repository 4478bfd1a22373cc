//! pprof profiles: the format of `go tool pprof`, Grafana Pyroscope, Parca
//! and most continuous-profiling backends (github.com/google/pprof
//! `proto/profile.proto`, gzipped).
//!
//! [`Builder`] collects samples — a stack of [`Frame`]s, leaf first, and one
//! value per sample type — and keeps the profile's tables: the string table
//! (entry 0 is `""`), one `Function` per distinct (name, file, start line)
//! and one `Location` per distinct call frame (function, line, column), ids
//! from 1. [`Builder::finish`] encodes and gzips it. [`decode`] reads one back.
//!
//! No IO, no printing: bytes in, bytes out.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;

pub mod proto;

/// Errors reading a profile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a gzipped profile: {0}")]
    Gzip(std::io::Error),
    #[error("the profile is larger than {limit} bytes uncompressed")]
    TooLarge { limit: u64 },
    #[error("not a pprof profile: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// What a value measures: `("space", "bytes")`, `("objects", "count")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleType<'a> {
    pub name: &'a str,
    pub unit: &'a str,
}

impl<'a> SampleType<'a> {
    pub const fn new(name: &'a str, unit: &'a str) -> Self {
        SampleType { name, unit }
    }
}

/// One call frame. Lines and columns are one-based; 0 when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Frame<'a> {
    pub function: &'a str,
    /// Source file (a path where there is one, so `pprof -list` finds it).
    pub file: &'a str,
    /// Where the function starts.
    pub start_line: i64,
    /// The position of this frame.
    pub line: i64,
    pub column: i64,
}

/// A sample's label: text, or a number with its unit (`bytes`, `count`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label<'a> {
    Str {
        key: &'a str,
        value: &'a str,
    },
    Num {
        key: &'a str,
        value: i64,
        unit: &'a str,
    },
}

/// Builds one profile with `N` values per sample.
pub struct Builder<const N: usize> {
    profile: proto::Profile,
    strings: HashMap<String, i64>,
    /// (name, file, start line) → function id.
    functions: HashMap<(i64, i64, i64), u64>,
    /// (function id, line, column) → location id.
    locations: HashMap<(u64, i64, i64), u64>,
}

impl<const N: usize> Builder<N> {
    /// A profile whose samples carry one value per entry of `sample_types`;
    /// one sample stands for `period` events of `period_type` (a sampling
    /// heap profiler's interval in bytes, say).
    pub fn new(sample_types: [SampleType; N], period_type: SampleType, period: i64) -> Self {
        let mut b = Builder {
            profile: proto::Profile::default(),
            strings: HashMap::new(),
            functions: HashMap::new(),
            locations: HashMap::new(),
        };
        b.string("");
        b.profile.sample_type = sample_types.iter().map(|t| b.value_type(*t)).collect();
        b.profile.period_type = Some(b.value_type(period_type));
        b.profile.period = period;
        b
    }

    /// The sample type tools show unless told otherwise (by name, e.g.
    /// `"space"`); without it they show the last one.
    pub fn default_sample_type(&mut self, name: &str) -> &mut Self {
        self.profile.default_sample_type = self.string(name);
        self
    }

    /// When collection started and how long it ran.
    pub fn time(&mut self, start: SystemTime, duration: Duration) -> &mut Self {
        let since = start.duration_since(UNIX_EPOCH).unwrap_or_default();
        self.profile.time_nanos = i64::try_from(since.as_nanos()).unwrap_or(i64::MAX);
        self.profile.duration_nanos = i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX);
        self
    }

    /// Names the program the samples come from (`node`, say): one mapping
    /// that every location belongs to, marked as already symbolized (so
    /// tools neither look for the binary nor try to symbolize).
    pub fn program(&mut self, filename: &str) -> &mut Self {
        let filename = self.string(filename);
        self.profile.mapping = vec![proto::Mapping {
            id: 1,
            filename,
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            ..Default::default()
        }];
        self
    }

    /// Free text that tools show with the profile (`pprof -comments`).
    pub fn comment(&mut self, text: &str) -> &mut Self {
        let s = self.string(text);
        self.profile.comment.push(s);
        self
    }

    /// Adds a sample: its stack, innermost frame first, its values (in the
    /// order of the sample types) and labels.
    pub fn add_sample(&mut self, frames_leaf_first: &[Frame], values: [i64; N], labels: &[Label]) {
        let location_id = frames_leaf_first.iter().map(|f| self.location(f)).collect();
        let label = labels.iter().map(|l| self.label(l)).collect();
        self.profile.sample.push(proto::Sample {
            location_id,
            value: values.to_vec(),
            label,
        });
    }

    /// The profile as it stands.
    pub fn profile(&self) -> &proto::Profile {
        &self.profile
    }

    /// The profile, encoded and gzipped: the bytes of a `.pb.gz` file.
    pub fn finish(mut self) -> Vec<u8> {
        if !self.profile.mapping.is_empty() {
            for l in &mut self.profile.location {
                l.mapping_id = 1;
            }
        }
        let raw = self.profile.encode_to_vec();
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(raw.len() / 4 + 64),
            flate2::Compression::default(),
        );
        // Writing into a Vec cannot fail.
        let _ = gz.write_all(&raw);
        gz.finish().unwrap_or_default()
    }

    fn string(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.profile.string_table.len() as i64;
        self.profile.string_table.push(s.to_owned());
        self.strings.insert(s.to_owned(), i);
        i
    }

    fn value_type(&mut self, t: SampleType) -> proto::ValueType {
        proto::ValueType {
            r#type: self.string(t.name),
            unit: self.string(t.unit),
        }
    }

    fn function(&mut self, f: &Frame) -> u64 {
        let name = self.string(f.function);
        let file = self.string(f.file);
        let key = (name, file, f.start_line);
        if let Some(&id) = self.functions.get(&key) {
            return id;
        }
        let id = self.profile.function.len() as u64 + 1;
        self.profile.function.push(proto::Function {
            id,
            name,
            system_name: name,
            filename: file,
            start_line: f.start_line,
        });
        self.functions.insert(key, id);
        id
    }

    fn location(&mut self, f: &Frame) -> u64 {
        let function_id = self.function(f);
        let key = (function_id, f.line, f.column);
        if let Some(&id) = self.locations.get(&key) {
            return id;
        }
        let id = self.profile.location.len() as u64 + 1;
        self.profile.location.push(proto::Location {
            id,
            line: vec![proto::Line {
                function_id,
                line: f.line,
                column: f.column,
            }],
            ..Default::default()
        });
        self.locations.insert(key, id);
        id
    }

    fn label(&mut self, l: &Label) -> proto::Label {
        match *l {
            Label::Str { key, value } => proto::Label {
                key: self.string(key),
                str: self.string(value),
                ..Default::default()
            },
            Label::Num { key, value, unit } => proto::Label {
                key: self.string(key),
                num: value,
                num_unit: self.string(unit),
                ..Default::default()
            },
        }
    }
}

/// Reads a profile: gzipped (as files are) or not, at most `limit` bytes
/// once uncompressed.
pub fn decode(bytes: &[u8], limit: u64) -> Result<proto::Profile, Error> {
    let raw;
    let data = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(Error::Gzip)?;
        if out.len() as u64 > limit {
            return Err(Error::TooLarge { limit });
        }
        raw = out;
        &raw[..]
    } else {
        bytes
    };
    Ok(proto::Profile::decode(data)?)
}

#[cfg(test)]
mod tests;
