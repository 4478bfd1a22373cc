use super::*;

const OBJECTS: SampleType = SampleType::new("objects", "count");
const SPACE: SampleType = SampleType::new("space", "bytes");

fn frame<'a>(function: &'a str, file: &'a str, line: i64, column: i64) -> Frame<'a> {
    Frame {
        function,
        file,
        start_line: line,
        line,
        column,
    }
}

fn heap_builder() -> Builder<2> {
    let mut b = Builder::new([OBJECTS, SPACE], SPACE, 32768);
    b.default_sample_type("space");
    b
}

fn s(p: &proto::Profile, i: i64) -> &str {
    &p.string_table[usize::try_from(i).expect("index >= 0")]
}

#[test]
fn empty_profile_has_its_header() {
    let bytes = heap_builder().finish();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzipped");
    let p = decode(&bytes, 1 << 20).unwrap();
    assert_eq!(p.string_table[0], "");
    let types: Vec<(&str, &str)> = p
        .sample_type
        .iter()
        .map(|t| (s(&p, t.r#type), s(&p, t.unit)))
        .collect();
    assert_eq!(types, [("objects", "count"), ("space", "bytes")]);
    let period = p.period_type.as_ref().unwrap();
    assert_eq!(
        (s(&p, period.r#type), s(&p, period.unit)),
        ("space", "bytes")
    );
    assert_eq!(p.period, 32768);
    assert_eq!(s(&p, p.default_sample_type), "space");
    assert!(p.sample.is_empty() && p.location.is_empty() && p.function.is_empty());
}

#[test]
fn frames_share_functions_and_locations() {
    let mut b = heap_builder();
    let leaf = frame("handleRequest", "/srv/app.js", 9, 1);
    let other_col = frame("handleRequest", "/srv/app.js", 9, 30);
    let caller = frame("(anonymous)", "/srv/service.js", 7, 36);
    b.add_sample(&[leaf, caller], [3, 300], &[]);
    b.add_sample(&[other_col, caller], [1, 100], &[]);
    b.add_sample(&[leaf, caller], [2, 16], &[]);
    let p = b.profile().clone();
    // Two functions (same name, file and start line share one), three
    // locations (the column tells two call frames apart).
    assert_eq!(p.function.len(), 2);
    assert_eq!(p.location.len(), 3);
    assert_eq!(p.sample.len(), 3);
    assert_eq!(p.sample[0].location_id, p.sample[2].location_id);
    assert_ne!(p.sample[0].location_id[0], p.sample[1].location_id[0]);
    assert_eq!(p.sample[0].location_id[1], p.sample[1].location_id[1]);
    // Leaf first.
    let leaf_loc = &p.location[(p.sample[0].location_id[0] - 1) as usize];
    let leaf_fn = &p.function[(leaf_loc.line[0].function_id - 1) as usize];
    assert_eq!(s(&p, leaf_fn.name), "handleRequest");
    assert_eq!(s(&p, leaf_fn.system_name), "handleRequest");
    assert_eq!(s(&p, leaf_fn.filename), "/srv/app.js");
    assert_eq!(leaf_fn.start_line, 9);
    assert_eq!((leaf_loc.line[0].line, leaf_loc.line[0].column), (9, 1));
}

#[test]
fn ids_are_dense_from_one_and_strings_unique() {
    let mut b = heap_builder();
    for i in 0..50 {
        let name = format!("f{}", i % 7);
        let f = frame(&name, "a.js", i % 5, 0);
        b.add_sample(&[f, frame("main", "a.js", 1, 1)], [1, i], &[]);
    }
    let p = decode(&b.finish(), 1 << 20).unwrap();
    for (i, f) in p.function.iter().enumerate() {
        assert_eq!(f.id, i as u64 + 1);
    }
    for (i, l) in p.location.iter().enumerate() {
        assert_eq!(l.id, i as u64 + 1);
        assert_eq!(l.line.len(), 1);
        assert!(l.line[0].function_id >= 1 && l.line[0].function_id <= p.function.len() as u64);
    }
    for sample in &p.sample {
        assert_eq!(sample.value.len(), p.sample_type.len());
        for id in &sample.location_id {
            assert!(*id >= 1 && *id <= p.location.len() as u64);
        }
    }
    let mut seen = std::collections::HashSet::new();
    assert!(p.string_table.iter().all(|s| seen.insert(s)), "duplicates");
}

#[test]
fn labels_time_and_comments() {
    let mut b = heap_builder();
    b.time(
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        Duration::from_millis(2500),
    )
    .comment("sampled")
    .program("node");
    b.add_sample(
        &[frame("f", "a.js", 1, 1)],
        [2, 64],
        &[
            Label::Num {
                key: "bytes",
                value: 32,
                unit: "bytes",
            },
            Label::Str {
                key: "pod",
                value: "api-1",
            },
        ],
    );
    let p = decode(&b.finish(), 1 << 20).unwrap();
    assert_eq!(p.time_nanos, 1_700_000_000_000_000_000);
    assert_eq!(p.mapping.len(), 1);
    let m = &p.mapping[0];
    assert_eq!((m.id, s(&p, m.filename)), (1, "node"));
    assert!(m.has_functions && m.has_filenames && m.has_line_numbers);
    assert!(p.location.iter().all(|l| l.mapping_id == 1));
    assert_eq!(p.duration_nanos, 2_500_000_000);
    assert_eq!(p.comment.len(), 1);
    assert_eq!(s(&p, p.comment[0]), "sampled");
    let l = &p.sample[0].label;
    assert_eq!(
        (s(&p, l[0].key), l[0].num, s(&p, l[0].num_unit)),
        ("bytes", 32, "bytes")
    );
    assert_eq!((s(&p, l[1].key), s(&p, l[1].str)), ("pod", "api-1"));
}

/// The wire bytes are those of profile.proto, field numbers and packing
/// included (checked by hand against the protobuf encoding rules).
#[test]
fn wire_format_matches_profile_proto() {
    let mut b = Builder::new([SampleType::new("a", "b")], SampleType::new("a", "b"), 5);
    b.add_sample(&[frame("f", "", 0, 0)], [7], &[]);
    let p = b.profile().clone();
    let raw = p.encode_to_vec();
    // sample_type (field 1, message): type=1 unit=2.
    assert_eq!(&raw[..6], &[0x0a, 4, 0x08, 1, 0x10, 2]);
    // sample (field 2): location_id packed (field 1) [1], value packed (field 2) [7].
    assert_eq!(&raw[6..14], &[0x12, 6, 0x0a, 1, 1, 0x12, 1, 7]);
    // location (field 4): id=1, line (field 4) { function_id=1 }.
    assert_eq!(&raw[14..22], &[0x22, 6, 0x08, 1, 0x22, 2, 0x08, 1]);
    // function (field 5): id=1, name=3 ("f"), system_name=3; filename 0 and
    // start_line 0 are defaults, not written.
    assert_eq!(&raw[22..30], &[0x2a, 6, 0x08, 1, 0x10, 3, 0x18, 3]);
    // string table (field 6): "", "a", "b", "f".
    assert_eq!(
        &raw[30..41],
        &[0x32, 0, 0x32, 1, b'a', 0x32, 1, b'b', 0x32, 1, b'f']
    );
    // period_type (field 11) {1, 2}, period (field 12) = 5.
    assert_eq!(&raw[41..], &[0x5a, 4, 0x08, 1, 0x10, 2, 0x60, 5]);
}

#[test]
fn decode_refuses_garbage_and_bombs() {
    assert!(matches!(
        decode(&[0x1f, 0x8b, 1, 2, 3], 1 << 20),
        Err(Error::Gzip(_))
    ));
    assert!(matches!(
        decode(&[0xff, 0xff], 1 << 20),
        Err(Error::Decode(_))
    ));
    let mut b = heap_builder();
    for i in 0..1000 {
        b.comment(&format!("comment {i}"));
    }
    assert!(matches!(
        decode(&b.finish(), 1000),
        Err(Error::TooLarge { limit: 1000 })
    ));
}
