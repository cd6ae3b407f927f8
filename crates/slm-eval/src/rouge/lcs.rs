//! Longest common subsequences for ROUGE-L and the union LCS of ROUGE-Lsum, with rouge-score's exact
//! backtracking rule (it decides which of several longest subsequences enters the union).

/// LCS length in O(n·m) time and O(m) memory.
pub fn length(a: &[u32], b: &[u32]) -> usize {
    let mut prev = vec![0u32; b.len() + 1];
    let mut cur = vec![0u32; b.len() + 1];
    for &x in a {
        for (j, &y) in b.iter().enumerate() {
            cur[j + 1] = if x == y { prev[j] + 1 } else { prev[j + 1].max(cur[j]) };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()] as usize
}

/// Indices into `r` of one longest common subsequence with `c`, chosen as rouge-score's
/// `_backtrack_norec` does: from the end, take a match diagonally; otherwise move left when the cell to
/// the left is strictly larger than the one above, else up.
fn lcs_indices(r: &[u32], c: &[u32]) -> Vec<usize> {
    let cols = c.len() + 1;
    let mut t = vec![0u32; (r.len() + 1) * cols];
    for i in 1..=r.len() {
        for j in 1..=c.len() {
            t[i * cols + j] = if r[i - 1] == c[j - 1] {
                t[(i - 1) * cols + j - 1] + 1
            } else {
                t[(i - 1) * cols + j].max(t[i * cols + j - 1])
            };
        }
    }
    let (mut i, mut j) = (r.len(), c.len());
    let mut out = Vec::new();
    while i > 0 && j > 0 {
        if r[i - 1] == c[j - 1] {
            out.push(i - 1);
            i -= 1;
            j -= 1;
        } else if t[i * cols + j - 1] > t[(i - 1) * cols + j] {
            j -= 1;
        } else {
            i -= 1;
        }
    }
    out.reverse();
    out
}

/// ROUGE-Lsum's summary-level union LCS: `(hits, reference tokens, candidate tokens)`, or `None` when
/// either side has no sentence or no token (a zero score).
pub fn summary_level(refs: &[Vec<u32>], cands: &[Vec<u32>]) -> Option<(usize, usize, usize)> {
    if refs.is_empty() || cands.is_empty() {
        return None;
    }
    let m: usize = refs.iter().map(Vec::len).sum();
    let n: usize = cands.iter().map(Vec::len).sum();
    if m == 0 || n == 0 {
        return None;
    }
    let vocab = refs.iter().chain(cands).flatten().copied().max().unwrap_or(0) as usize + 1;
    let mut cnt_r = vec![0i64; vocab];
    let mut cnt_c = vec![0i64; vocab];
    refs.iter().flatten().for_each(|&t| cnt_r[t as usize] += 1);
    cands.iter().flatten().for_each(|&t| cnt_c[t as usize] += 1);
    let mut hits = 0;
    for r in refs {
        let mut union: Vec<usize> = cands.iter().flat_map(|c| lcs_indices(r, c)).collect();
        union.sort_unstable();
        union.dedup();
        for i in union {
            let t = r[i] as usize;
            if cnt_c[t] > 0 && cnt_r[t] > 0 {
                hits += 1;
                cnt_c[t] -= 1;
                cnt_r[t] -= 1;
            }
        }
    }
    Some((hits, m, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_backtracking() {
        assert_eq!(length(&[1, 2, 3, 4], &[2, 4, 3]), 2);
        assert_eq!(length(&[], &[1]), 0);
        // r = a b c, c = c b a... every single token is an LCS; rouge-score's rule picks the one it reaches
        // by moving up first: index of 'a'.
        assert_eq!(lcs_indices(&[0, 1, 2], &[2, 1, 0]), vec![0]);
    }
}
