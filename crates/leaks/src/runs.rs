//! Folding repeated runs (linked lists, closure chains) in a sequence of path hops.

/// A stretch of a sequence: `len` items starting at `start`, repeated `reps`
/// times in a row (`reps` is 1 for an item shown as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub start: usize,
    pub len: usize,
    pub reps: usize,
}

/// Splits `items` into runs, greedily from the front: at each position the
/// shortest block (1 to 4 items) repeated at least `min_reps` times in a
/// row is folded; other items stand alone.
pub fn fold_runs<T>(items: &[T], min_reps: usize, same: impl Fn(&T, &T) -> bool) -> Vec<Run> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let mut run = Run {
            start: i,
            len: 1,
            reps: 1,
        };
        for len in 1..=4 {
            if i + min_reps * len > items.len() {
                break;
            }
            let mut reps = 1;
            while i + (reps + 1) * len <= items.len()
                && (0..len).all(|k| same(&items[i + k], &items[i + reps * len + k]))
            {
                reps += 1;
            }
            if reps >= min_reps {
                run = Run {
                    start: i,
                    len,
                    reps,
                };
                break;
            }
        }
        i += run.len * run.reps;
        out.push(run);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_the_shortest_repeated_block() {
        let s: Vec<char> = "xababababy".chars().collect();
        let runs = fold_runs(&s, 3, |a, b| a == b);
        assert_eq!(
            runs,
            vec![
                Run {
                    start: 0,
                    len: 1,
                    reps: 1
                },
                Run {
                    start: 1,
                    len: 2,
                    reps: 4
                },
                Run {
                    start: 9,
                    len: 1,
                    reps: 1
                },
            ]
        );
    }

    #[test]
    fn short_repeats_stand_alone() {
        let s: Vec<char> = "aab".chars().collect();
        let runs = fold_runs(&s, 3, |a, b| a == b);
        assert_eq!(runs.len(), 3);
        assert_eq!(fold_runs(&s, 2, |a, b| a == b)[0].reps, 2);
    }
}
