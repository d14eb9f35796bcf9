//! Graphs: a small simple-graph type, the CSL benchmark and a graph6 reader and writer.
//!
//! - [`Graph`]: an undirected graph without self loops or multiple edges on nodes `0..n`,
//!   stored as a symmetric adjacency bitset.
//! - CSL, circular skip links (Murphy, Srinivasan, Rao, Ribeiro, "Relational Pooling for Graph
//!   Representations", ICML 2019): the 4-regular circulant graphs `C(41, {1, k})`, edges `i ~
//!   i + 1` and `i ~ i + k (mod 41)`, for the ten skips `k` of [`csl_skips`], one class each.
//!   All are 4-regular on 41 nodes, so 1-WL colour refinement (and every message-passing GNN
//!   as powerful as it) gives every node the same colour in every class and sits at chance
//!   (10%), while the classes are pairwise non-isomorphic. [`csl`] makes `copies_per_class`
//!   copies of each, every copy (copy 0 included) relabelled by its own random permutation
//!   ([`csl_permutation`]), so no node order gives the class away.
//! - graph6 (Brendan McKay's format, the output of nauty's `geng` and what networkx reads and
//!   writes; spec: <https://users.cecs.anu.edu.au/~bdm/data/formats.txt>): one graph per line,
//!   printable ASCII 63 to 126. The line is `N(n) R(x)`: `N(n)` is one byte `n + 63` for `n <
//!   63`, `~` and three bytes (18 bits, big-endian, 6 per byte) for `63 <= n < 258048`, `~~`
//!   and six bytes (36 bits) above; `x` is the upper triangle of the adjacency matrix in column
//!   order, `x(0,1), x(0,2), x(1,2), x(0,3), x(1,3), x(2,3), ...`, cut into 6-bit groups
//!   (most significant bit first, the last group padded with zero bits), each written as the
//!   byte `group + 63`. A file may start with the header `>>graph6<<` (no newline needed).
//!   [`parse_graph6_line`] never panics: any input gives a graph or an error saying why;
//!   sparse6 (`:`) and digraph6 (`&`) lines are refused. The reader also takes a `~` or `~~`
//!   node count that a shorter form could have held, as networkx and nauty do; the writer
//!   always uses the shortest.
//!
//! ```
//! use noether_data::graphs::{Graph, parse_graph6_line, write_graph6};
//!
//! let k3 = parse_graph6_line("Bw")?;
//! assert_eq!(k3.n(), 3);
//! assert_eq!(k3.edges().collect::<Vec<_>>(), [(0, 1), (0, 2), (1, 2)]);
//! assert_eq!(write_graph6(&k3), "Bw");
//! # Ok::<(), String>(())
//! ```

use std::path::Path;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{DataError, Result};
use crate::fsio;

/// Nodes of every CSL graph.
pub const CSL_NODES: usize = 41;

/// Copies of each CSL class in the usual benchmark (10 classes x 15 = 150 graphs).
pub const CSL_COPIES: usize = 15;

/// The skips `k` of the ten CSL classes: class `c` is `C(41, {1, CSL_SKIPS[c]})`.
const CSL_SKIPS: [usize; 10] = [2, 3, 4, 5, 6, 9, 11, 12, 13, 16];

/// The optional header of a graph6 file.
pub const GRAPH6_HEADER: &str = ">>graph6<<";

/// Largest node count graph6 can write (36 bits).
pub const GRAPH6_MAX_NODES: usize = (1 << 36) - 1;

/// An undirected simple graph on nodes `0..n`: a symmetric adjacency bitset with an empty
/// diagonal (row `u` holds bit `v` iff `u ~ v`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Graph {
    /// Number of nodes.
    n: usize,
    /// 64-bit words per row, `ceil(n / 64)`.
    words: usize,
    /// `n * words` words, row-major; bits at and beyond `n` in each row are zero.
    bits: Vec<u64>,
}

impl Graph {
    /// The graph on `n` nodes without edges.
    pub fn new(n: usize) -> Graph {
        let words = n.div_ceil(64);
        Graph {
            n,
            words,
            bits: vec![0; n * words],
        }
    }

    /// The graph on `n` nodes with the given edges (either orientation; repeats are merged).
    /// Errors (naming `graph.edge`) for a node `>= n` or a self loop.
    pub fn from_edges(n: usize, edges: &[(usize, usize)]) -> Result<Graph> {
        let mut g = Graph::new(n);
        for &(u, v) in edges {
            if u >= n || v >= n || u == v {
                return Err(DataError::invalid(
                    "graph.edge",
                    format!(
                        "({u}, {v}) in a graph of {n} nodes: nodes must be distinct and below {n}"
                    ),
                ));
            }
            g.add_edge(u, v);
        }
        Ok(g)
    }

    /// Number of nodes.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Adds the edge `u ~ v` (a no-op when it is there).
    ///
    /// # Panics
    /// When `u` or `v` is not below [`n`](Graph::n), or `u == v` (no self loops).
    pub fn add_edge(&mut self, u: usize, v: usize) {
        assert!(
            u < self.n && v < self.n,
            "edge ({u}, {v}) out of range for a graph of {} nodes",
            self.n
        );
        assert_ne!(u, v, "self loop at node {u}");
        self.set(u, v);
        self.set(v, u);
    }

    fn set(&mut self, u: usize, v: usize) {
        self.bits[u * self.words + v / 64] |= 1 << (v % 64);
    }

    /// Whether `u ~ v` (never for `u == v`).
    ///
    /// # Panics
    /// When `u` or `v` is not below [`n`](Graph::n).
    pub fn has_edge(&self, u: usize, v: usize) -> bool {
        assert!(
            u < self.n && v < self.n,
            "node pair ({u}, {v}) out of range for a graph of {} nodes",
            self.n
        );
        self.bits[u * self.words + v / 64] >> (v % 64) & 1 == 1
    }

    /// Number of neighbours of `u`.
    ///
    /// # Panics
    /// When `u` is not below [`n`](Graph::n).
    pub fn degree(&self, u: usize) -> usize {
        assert!(
            u < self.n,
            "node {u} out of range for a graph of {} nodes",
            self.n
        );
        self.row(u).iter().map(|w| w.count_ones() as usize).sum()
    }

    fn row(&self, u: usize) -> &[u64] {
        &self.bits[u * self.words..(u + 1) * self.words]
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        (0..self.n).map(|u| self.degree(u)).sum::<usize>() / 2
    }

    /// The edges `(u, v)` with `u < v`, by `u` then `v`.
    pub fn edges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.n).flat_map(move |u| {
            (u + 1..self.n)
                .filter(move |&v| self.has_edge(u, v))
                .map(move |v| (u, v))
        })
    }

    /// The neighbours of `u` in increasing order.
    ///
    /// # Panics
    /// When `u` is not below [`n`](Graph::n).
    pub fn neighbours(&self, u: usize) -> impl Iterator<Item = usize> + '_ {
        assert!(
            u < self.n,
            "node {u} out of range for a graph of {} nodes",
            self.n
        );
        (0..self.n).filter(move |&v| self.has_edge(u, v))
    }

    /// The graph relabelled by `perm`: node `i` of the result is node `perm[i]` of `self`, so
    /// `result.has_edge(i, j) == self.has_edge(perm[i], perm[j])` (adjacency `A'[i][j] =
    /// A[perm[i]][perm[j]]`, i.e. `P^T A P` with `P[perm[i]][i] = 1`). Errors (naming
    /// `graph.perm`) unless `perm` is a permutation of `0..n`.
    pub fn permuted(&self, perm: &[usize]) -> Result<Graph> {
        if perm.len() != self.n {
            return Err(DataError::invalid(
                "graph.perm",
                format!(
                    "{} entries for a graph of {} nodes; must be a permutation of 0..{}",
                    perm.len(),
                    self.n,
                    self.n
                ),
            ));
        }
        let mut seen = vec![false; self.n];
        for &p in perm {
            if p >= self.n || seen[p] {
                return Err(DataError::invalid(
                    "graph.perm",
                    format!(
                        "entry {p} out of range or repeated; must be a permutation of 0..{}",
                        self.n
                    ),
                ));
            }
            seen[p] = true;
        }
        Ok(self.permuted_unchecked(perm))
    }

    /// [`permuted`](Graph::permuted) for a `perm` known to be a permutation of `0..n`.
    fn permuted_unchecked(&self, perm: &[usize]) -> Graph {
        let mut g = Graph::new(self.n);
        for i in 0..self.n {
            for j in i + 1..self.n {
                if self.has_edge(perm[i], perm[j]) {
                    g.add_edge(i, j);
                }
            }
        }
        g
    }

    /// The adjacency matrix padded with zeros to `pad x pad`, row-major: entry `i * pad + j`
    /// is 1 iff `i ~ j`. Errors (naming `graph.pad`) when the graph has more than `pad`
    /// nodes.
    pub fn adjacency_f32(&self, pad: usize) -> Result<Vec<f32>> {
        if self.n > pad {
            return Err(DataError::invalid(
                "graph.pad",
                format!(
                    "a graph of {} nodes does not fit a padded size of {pad}",
                    self.n
                ),
            ));
        }
        let mut out = vec![0.0f32; pad * pad];
        for (u, v) in self.edges() {
            out[u * pad + v] = 1.0;
            out[v * pad + u] = 1.0;
        }
        Ok(out)
    }
}

/// The circulant graph `C(n, skips)`: edges `i ~ (i + s) mod n` for every node `i` and skip
/// `s`. A skip that is a multiple of `n` (a self loop) adds nothing.
pub fn circulant(n: usize, skips: &[usize]) -> Graph {
    let mut g = Graph::new(n);
    for i in 0..n {
        for &s in skips {
            let j = (i + s % n) % n;
            if j != i {
                g.add_edge(i, j);
            }
        }
    }
    g
}

/// The skips `k` of the ten CSL classes, `[2, 3, 4, 5, 6, 9, 11, 12, 13, 16]`: class `c` is
/// `C(41, {1, csl_skips()[c]})`.
pub fn csl_skips() -> &'static [usize] {
    &CSL_SKIPS
}

/// The relabelling of copy `copy` of CSL class `class`: a uniformly random permutation of
/// `0..41` (Fisher-Yates with multiply-shift draws) from `ChaCha8Rng::seed_from_u64(seed)` on
/// stream `class * 2^32 + copy`. [`csl`]'s graph is `circulant(41, &[1, k]).permuted(&perm)`.
pub fn csl_permutation(class: usize, copy: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((class as u64) << 32) | (copy as u64 & 0xffff_ffff));
    let mut perm: Vec<usize> = (0..CSL_NODES).collect();
    for i in (1..CSL_NODES).rev() {
        let j = ((u128::from(rng.next_u64()) * (i as u128 + 1)) >> 64) as usize;
        perm.swap(i, j);
    }
    perm
}

/// The CSL data set: `copies_per_class` copies of each of the ten classes, class-major (all
/// copies of class 0, then class 1, ...), each with its label `0..10`. Copy `m` of class `c`
/// is `C(41, {1, csl_skips()[c]})` relabelled by
/// [`csl_permutation(c, m, seed)`](csl_permutation), copy 0 included. The usual benchmark is
/// [`CSL_COPIES`] = 15 copies, 150 graphs.
pub fn csl(copies_per_class: usize, seed: u64) -> Vec<(Graph, usize)> {
    let mut out = Vec::with_capacity(CSL_SKIPS.len() * copies_per_class);
    for (class, &k) in CSL_SKIPS.iter().enumerate() {
        let base = circulant(CSL_NODES, &[1, k]);
        for copy in 0..copies_per_class {
            let perm = csl_permutation(class, copy, seed);
            out.push((base.permuted_unchecked(&perm), class));
        }
    }
    out
}

/// The graph6 encoding of `g`, without header or newline.
///
/// # Panics
/// When `g` has more than [`GRAPH6_MAX_NODES`] nodes (which no graph in memory has).
pub fn write_graph6(g: &Graph) -> String {
    let n = g.n;
    assert!(n <= GRAPH6_MAX_NODES, "{n} nodes is beyond graph6");
    let mut out: Vec<u8> = Vec::new();
    if n < 63 {
        out.push(n as u8 + 63);
    } else if n < 258_048 {
        out.push(b'~');
        out.extend((0..3).rev().map(|k| ((n >> (6 * k)) & 63) as u8 + 63));
    } else {
        out.extend(b"~~");
        out.extend((0..6).rev().map(|k| ((n >> (6 * k)) & 63) as u8 + 63));
    }
    let (mut group, mut filled) = (0u8, 0u32);
    for j in 1..n {
        for i in 0..j {
            group = (group << 1) | u8::from(g.has_edge(i, j));
            filled += 1;
            if filled == 6 {
                out.push(group + 63);
                (group, filled) = (0, 0);
            }
        }
    }
    if filled > 0 {
        out.push((group << (6 - filled)) + 63);
    }
    out.into_iter().map(char::from).collect()
}

/// Parses one graph6 line (an optional `>>graph6<<` header first, surrounding whitespace and
/// the line end ignored). The error says what is wrong: an empty line, a bad character (and
/// its 1-based column), a truncated node count, a wrong number of edge characters, non-zero
/// padding bits, or a sparse6 / digraph6 line. Never panics.
pub fn parse_graph6_line(line: &str) -> Result<Graph, String> {
    let bytes = line.as_bytes();
    let bytes = bytes
        .strip_prefix(GRAPH6_HEADER.as_bytes())
        .unwrap_or(bytes);
    parse_graph6_bytes(bytes)
}

/// [`parse_graph6_line`] on bytes, without the header.
fn parse_graph6_bytes(bytes: &[u8]) -> Result<Graph, String> {
    let bytes = bytes.trim_ascii();
    match bytes.first() {
        None => return Err("empty line".into()),
        Some(b':') => return Err("a sparse6 line (starts with ':'), not graph6".into()),
        Some(b'&') => return Err("a digraph6 line (starts with '&'), not graph6".into()),
        Some(_) => {}
    }
    if let Some(k) = bytes.iter().position(|b| !(63..=126).contains(b)) {
        return Err(format!(
            "bad character {:?} at column {}: graph6 uses only bytes 63 ('?') to 126 ('~')",
            char::from(bytes[k]),
            k + 1
        ));
    }
    let digits = |b: &[u8]| {
        b.iter()
            .fold(0u64, |acc, &c| (acc << 6) | u64::from(c - 63))
    };
    let (n, rest) = if bytes[0] != b'~' {
        (u64::from(bytes[0] - 63), &bytes[1..])
    } else if bytes.get(1) != Some(&b'~') {
        if bytes.len() < 4 {
            return Err(format!(
                "truncated node count: '~' needs 3 more characters, found {}",
                bytes.len() - 1
            ));
        }
        (digits(&bytes[1..4]), &bytes[4..])
    } else {
        if bytes.len() < 8 {
            return Err(format!(
                "truncated node count: '~~' needs 6 more characters, found {}",
                bytes.len() - 2
            ));
        }
        (digits(&bytes[2..8]), &bytes[8..])
    };
    let pairs = u128::from(n) * u128::from(n.saturating_sub(1)) / 2;
    let need = pairs.div_ceil(6);
    if need != rest.len() as u128 {
        return Err(format!(
            "wrong length: {n} nodes need {need} edge characters, found {}",
            rest.len()
        ));
    }
    // `need` equals the line's length, so `n` is small enough to allocate
    let n = n as usize;
    let mut g = Graph::new(n);
    let mut k = 0usize;
    for j in 1..n {
        for i in 0..j {
            if (rest[k / 6] - 63) >> (5 - k % 6) & 1 == 1 {
                g.add_edge(i, j);
            }
            k += 1;
        }
    }
    if !k.is_multiple_of(6) {
        let pad = 6 - k % 6;
        if (rest[k / 6] - 63) & ((1u8 << pad) - 1) != 0 {
            return Err(format!(
                "non-zero padding bits in the last character ({pad} bits must be 0)"
            ));
        }
    }
    Ok(g)
}

/// Reads a graph6 file: one graph per line, blank lines skipped, an optional `>>graph6<<`
/// header at the start of the first line, `\n` or `\r\n` line ends. A malformed line gives a
/// [`DataError::Format`] naming the file, the byte offset and the 1-based line number, and
/// why.
pub fn read_graph6(path: impl AsRef<Path>) -> Result<Vec<Graph>> {
    let path = path.as_ref();
    let data = fsio::read(path)?;
    let mut out = Vec::new();
    let mut offset = 0u64;
    for (index, line) in data.split(|&b| b == b'\n').enumerate() {
        let start = offset;
        offset += line.len() as u64 + 1;
        let body = if index == 0 {
            line.strip_prefix(GRAPH6_HEADER.as_bytes()).unwrap_or(line)
        } else {
            line
        };
        if body.trim_ascii().is_empty() {
            continue;
        }
        let g = parse_graph6_bytes(body).map_err(|why| {
            DataError::format(path, Some(start), format!("line {}: {why}", index + 1))
        })?;
        out.push(g);
    }
    Ok(out)
}
