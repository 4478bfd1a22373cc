//! Retained sizes in 32 bits per node, with the few larger ones on the side.

use std::collections::HashMap;

/// Retained size of every node. Sizes are 64-bit; all but a handful (the
/// root and objects retaining 4 GiB or more) fit in 32 bits, so a `u32` per
/// node holds them and `u32::MAX` sends the lookup to a side table.
#[derive(Debug, Clone)]
pub struct RetainedSizes {
    low: Vec<u32>,
    big: HashMap<u32, u64>,
}

impl RetainedSizes {
    /// Starts from the shallow sizes.
    pub(crate) fn from_shallow(shallow: &[u32]) -> RetainedSizes {
        let mut sizes = RetainedSizes {
            low: Vec::with_capacity(shallow.len()),
            big: HashMap::new(),
        };
        for (i, &s) in shallow.iter().enumerate() {
            sizes.low.push(s);
            if s == u32::MAX {
                sizes.big.insert(i as u32, u64::from(s));
            }
        }
        sizes
    }

    #[inline]
    pub fn get(&self, i: usize) -> u64 {
        match self.low[i] {
            u32::MAX => self.big[&(i as u32)],
            v => u64::from(v),
        }
    }

    /// Adds `v` to the size of node `i`.
    #[inline]
    pub(crate) fn add(&mut self, i: usize, v: u64) {
        let sum = self.get(i) + v;
        match u32::try_from(sum) {
            Ok(s) if s != u32::MAX => self.low[i] = s,
            _ => {
                self.low[i] = u32::MAX;
                self.big.insert(i as u32, sum);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.low.len()
    }

    pub fn is_empty(&self) -> bool {
        self.low.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::RetainedSizes;

    #[test]
    fn sizes_past_32_bits_move_to_the_side_table() {
        let mut r = RetainedSizes::from_shallow(&[10, u32::MAX, u32::MAX - 1, 0]);
        assert_eq!(r.get(1), u64::from(u32::MAX));
        r.add(2, 1);
        assert_eq!(r.get(2), u64::from(u32::MAX));
        r.add(0, 6_000_000_000);
        r.add(0, 5);
        assert_eq!(r.get(0), 6_000_000_015);
        r.add(3, u64::from(u32::MAX) - 1);
        assert_eq!(r.get(3), u64::from(u32::MAX) - 1);
        assert_eq!((r.get(1), r.len()), (u64::from(u32::MAX), 4));
    }
}
