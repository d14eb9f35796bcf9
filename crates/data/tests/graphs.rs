//! graphs: the graph type, graph6 (known strings, round trip, files, errors, no panics) and the
//! CSL data set (sizes, regularity, relabellings, 1-WL indistinguishability).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use noether_data::DataError;
use noether_data::graphs::{
    CSL_COPIES, CSL_NODES, Graph, circulant, csl, csl_permutation, csl_skips, parse_graph6_line,
    read_graph6, write_graph6,
};
use proptest::prelude::*;

fn edges(g: &Graph) -> Vec<(usize, usize)> {
    g.edges().collect()
}

fn complete(n: usize) -> Graph {
    let all: Vec<(usize, usize)> = (0..n).flat_map(|v| (0..v).map(move |u| (u, v))).collect();
    Graph::from_edges(n, &all).expect("valid edges")
}

// --- the graph type ---

#[test]
fn graph_basics() {
    let mut g = Graph::new(4);
    assert_eq!(g.n(), 4);
    assert_eq!(g.edge_count(), 0);
    g.add_edge(2, 0);
    g.add_edge(0, 2);
    g.add_edge(1, 3);
    assert!(g.has_edge(0, 2) && g.has_edge(2, 0));
    assert!(!g.has_edge(0, 1) && !g.has_edge(0, 0));
    assert_eq!(edges(&g), [(0, 2), (1, 3)]);
    assert_eq!(g.edge_count(), 2);
    assert_eq!(
        (0..4).map(|u| g.degree(u)).collect::<Vec<_>>(),
        [1, 1, 1, 1]
    );
    assert_eq!(g.neighbours(0).collect::<Vec<_>>(), [2]);
    assert_eq!(Graph::from_edges(4, &[(0, 2), (3, 1)]).expect("valid"), g);
    assert!(Graph::from_edges(4, &[(0, 4)]).is_err());
    assert!(Graph::from_edges(4, &[(1, 1)]).is_err());
    // wider than one 64-bit word
    let big = complete(70);
    assert_eq!(big.edge_count(), 70 * 69 / 2);
    assert!((0..70).all(|u| big.degree(u) == 69));
}

#[test]
fn permuted_follows_the_documented_convention() {
    // path 0 - 1 - 2 - 3
    let g = Graph::from_edges(4, &[(0, 1), (1, 2), (2, 3)]).expect("valid");
    let perm = [2, 0, 3, 1];
    let h = g.permuted(&perm).expect("a permutation");
    for i in 0..4 {
        for j in 0..4 {
            assert_eq!(h.has_edge(i, j), g.has_edge(perm[i], perm[j]));
        }
    }
    // node 0 of h is node 2 of g (degree 2, neighbours 1 and 3 of g = nodes 3 and 2 of h)
    assert_eq!(h.neighbours(0).collect::<Vec<_>>(), [2, 3]);
    // the inverse permutation maps back
    let mut inv = [0usize; 4];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    assert_eq!(h.permuted(&inv).expect("a permutation"), g);
    for bad in [&[0, 1, 2][..], &[0, 1, 2, 2], &[0, 1, 2, 4]] {
        match g.permuted(bad) {
            Err(DataError::Invalid { what, .. }) => assert_eq!(what, "graph.perm"),
            other => panic!("expected an invalid permutation, got {other:?}"),
        }
    }
}

#[test]
fn padded_adjacency() {
    let g = Graph::from_edges(3, &[(0, 1), (1, 2)]).expect("valid");
    let a = g.adjacency_f32(4).expect("fits");
    #[rustfmt::skip]
    let want = [
        0.0, 1.0, 0.0, 0.0,
        1.0, 0.0, 1.0, 0.0,
        0.0, 1.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0,
    ];
    assert_eq!(a, want);
    assert_eq!(g.adjacency_f32(3).expect("fits").len(), 9);
    let err = g.adjacency_f32(2).expect_err("3 nodes do not fit 2");
    let message = err.to_string();
    assert!(message.contains("graph.pad"), "{message}");
    assert!(message.contains('3') && message.contains('2'), "{message}");
}

// --- graph6 ---

#[test]
fn graph6_known_strings() {
    let a = parse_graph6_line("A_").expect("K2");
    assert_eq!((a.n(), edges(&a)), (2, vec![(0, 1)]));
    assert_eq!(parse_graph6_line("Bw").expect("K3"), complete(3));
    assert_eq!(parse_graph6_line("C~").expect("K4"), complete(4));
    // the example of formats.txt: n = 5, edges 0-2, 0-4, 1-3, 3-4
    let d = parse_graph6_line("DQc").expect("the spec's example");
    assert_eq!(
        (d.n(), edges(&d)),
        (5, vec![(0, 2), (0, 4), (1, 3), (3, 4)])
    );
    for s in ["A_", "Bw", "C~", "DQc"] {
        assert_eq!(write_graph6(&parse_graph6_line(s).expect("valid")), s);
    }
    // the empty graphs on 0 and 1 nodes, and 2 nodes without an edge
    assert_eq!(parse_graph6_line("?").expect("n = 0").n(), 0);
    assert_eq!(write_graph6(&Graph::new(0)), "?");
    assert_eq!(write_graph6(&Graph::new(1)), "@");
    assert_eq!(write_graph6(&Graph::new(2)), "A?");
    // header and line end
    assert_eq!(parse_graph6_line(">>graph6<<DQc\r\n").expect("header"), d);
}

#[test]
fn graph6_long_node_counts() {
    // 63 nodes: '~' and three bytes 0, 0, 63 -> "~??~"
    let g = Graph::new(63);
    let s = write_graph6(&g);
    assert!(s.starts_with("~??~"), "{}", &s[..4]);
    assert_eq!(s.len(), 4 + (63 * 62 / 2usize).div_ceil(6));
    assert_eq!(parse_graph6_line(&s).expect("round trip"), g);
    // N(12345) = 126 66 63 120 (formats.txt); the length check comes before any allocation
    let e = parse_graph6_line("~B?x").expect_err("no edge characters");
    assert!(e.contains("12345 nodes"), "{e}");
    // N(460175067) = 126 126 63 90 90 90 90 90 (formats.txt)
    let e = parse_graph6_line("~~?ZZZZZ").expect_err("no edge characters");
    assert!(e.contains("460175067 nodes"), "{e}");
    // the largest 8-byte count
    let e = parse_graph6_line("~~~~~~~~").expect_err("no edge characters");
    assert!(e.contains("wrong length"), "{e}");
    // a non-minimal '~' count is read too: 2 nodes with an edge
    assert_eq!(
        parse_graph6_line("~??A_").expect("lenient"),
        parse_graph6_line("A_").expect("K2")
    );
}

#[test]
fn graph6_errors_say_why() {
    let cases = [
        ("", "empty"),
        ("   ", "empty"),
        ("B", "wrong length"),
        ("Bww", "wrong length"),
        ("B!", "bad character"),
        ("Bw é", "bad character"),
        ("~?", "truncated"),
        ("~~??", "truncated"),
        ("A`", "padding"),
        (":Fa@x^", "sparse6"),
        ("&B?", "digraph6"),
    ];
    for (line, why) in cases {
        let e = parse_graph6_line(line).expect_err(line);
        assert!(e.contains(why), "{line:?}: {e}");
    }
    let e = parse_graph6_line("DQ c").expect_err("space inside");
    assert!(e.contains("column 3"), "{e}");
}

#[test]
fn read_graph6_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("good.g6");
    let mut f = std::fs::File::create(&good).expect("create");
    f.write_all(b">>graph6<<A_\r\nBw\n\n  \nC~\nDQc")
        .expect("write");
    drop(f);
    let graphs = read_graph6(&good).expect("read");
    assert_eq!(graphs.len(), 4);
    assert_eq!(graphs[1], complete(3));
    assert_eq!(graphs[3].n(), 5);

    // a header only on the first line
    let header_only = dir.path().join("header.g6");
    std::fs::write(&header_only, ">>graph6<<\nBw\n").expect("write");
    assert_eq!(read_graph6(&header_only).expect("read").len(), 1);
    let late_header = dir.path().join("late.g6");
    std::fs::write(&late_header, "Bw\n>>graph6<<Bw\n").expect("write");
    let e = read_graph6(&late_header).expect_err("header on line 2");
    assert!(e.to_string().contains("line 2"), "{e}");

    let bad = dir.path().join("bad.g6");
    std::fs::write(&bad, "A_\nBw\n\nC}x\nDQc\n").expect("write");
    match read_graph6(&bad) {
        Err(DataError::Format {
            path,
            offset,
            reason,
        }) => {
            assert_eq!(path, bad);
            assert_eq!(offset, Some(7));
            assert!(reason.contains("line 4"), "{reason}");
            assert!(reason.contains("wrong length"), "{reason}");
        }
        other => panic!("expected a format error, got {other:?}"),
    }
    let message = read_graph6(&bad).expect_err("bad").to_string();
    assert!(
        message.contains("bad.g6") && message.contains("line 4"),
        "{message}"
    );

    let binary = dir.path().join("binary.g6");
    std::fs::write(&binary, b"Bw\nC\xff~\n").expect("write");
    let e = read_graph6(&binary).expect_err("non-ASCII");
    assert!(
        e.to_string().contains("line 2") && e.to_string().contains("bad character"),
        "{e}"
    );

    let missing = dir.path().join("missing.g6");
    match read_graph6(&missing) {
        Err(DataError::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

fn random_graph() -> impl Strategy<Value = Graph> {
    (0usize..=70).prop_flat_map(|n| {
        prop::collection::vec(any::<bool>(), n * n.saturating_sub(1) / 2).prop_map(move |bits| {
            let mut g = Graph::new(n);
            let mut k = 0;
            for v in 1..n {
                for u in 0..v {
                    if bits[k] {
                        g.add_edge(u, v);
                    }
                    k += 1;
                }
            }
            g
        })
    })
}

/// A graph6 node-count prefix (any of the three forms, minimal or not) and noise.
fn graph6_like() -> impl Strategy<Value = String> {
    let alphabet = prop::collection::vec(63u8..=126, 0..400);
    (
        prop_oneof![
            Just(String::new()),
            Just("~".to_string()),
            Just("~~".to_string())
        ],
        alphabet,
    )
        .prop_map(|(prefix, body)| prefix + &body.into_iter().map(char::from).collect::<String>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn graph6_round_trip(g in random_graph()) {
        let s = write_graph6(&g);
        prop_assert!(s.bytes().all(|b| (63..=126).contains(&b)));
        prop_assert_eq!(s.starts_with('~'), g.n() >= 63);
        let back = parse_graph6_line(&s).expect("own output parses");
        prop_assert_eq!(back, g);
    }

    #[test]
    fn permuting_back_is_the_identity(g in random_graph(), seed in any::<u64>()) {
        use rand::{SeedableRng, seq::SliceRandom};
        let mut perm: Vec<usize> = (0..g.n()).collect();
        perm.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        let h = g.permuted(&perm).expect("a permutation");
        prop_assert_eq!(h.edge_count(), g.edge_count());
        let mut inv = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inv[p] = i;
        }
        prop_assert_eq!(h.permuted(&inv).expect("a permutation"), g);
    }

    #[test]
    fn graph6_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let line = String::from_utf8_lossy(&bytes);
        let _ = parse_graph6_line(&line);
    }

    #[test]
    fn graph6_parser_never_panics_on_graph6_alphabet(line in graph6_like()) {
        if let Ok(g) = parse_graph6_line(&line) {
            // whatever parses has a consistent adjacency
            for (u, v) in g.edges() {
                prop_assert!(g.has_edge(v, u) && u != v);
            }
        }
    }

    #[test]
    fn graph6_parser_never_panics_on_any_string(line in "\\PC{0,200}") {
        let _ = parse_graph6_line(&line);
    }
}

#[test]
fn graph6_parser_handles_every_short_line() {
    // every line of up to 2 characters over the alphabet and a few neighbours, exhaustively
    let chars: Vec<char> = (60u8..=127).map(char::from).collect();
    for &a in &chars {
        let _ = parse_graph6_line(&a.to_string());
        for &b in &chars {
            let _ = parse_graph6_line(&format!("{a}{b}"));
            let _ = parse_graph6_line(&format!("~{a}{b}"));
            let _ = parse_graph6_line(&format!("~~{a}{b}????"));
        }
    }
}

// --- CSL ---

/// 1-WL colour refinement run jointly on several graphs (one colour dictionary, so colours
/// are comparable across graphs) until the partition is stable; returns each graph's colour
/// histogram.
fn wl_histograms(graphs: &[&Graph]) -> Vec<BTreeMap<usize, usize>> {
    let mut colours: Vec<Vec<usize>> = graphs.iter().map(|g| vec![0; g.n()]).collect();
    let mut classes = 1;
    loop {
        let mut dict: HashMap<(usize, Vec<usize>), usize> = HashMap::new();
        let next: Vec<Vec<usize>> = graphs
            .iter()
            .zip(&colours)
            .map(|(g, c)| {
                (0..g.n())
                    .map(|u| {
                        let mut around: Vec<usize> = g.neighbours(u).map(|v| c[v]).collect();
                        around.sort_unstable();
                        let fresh = dict.len();
                        *dict.entry((c[u], around)).or_insert(fresh)
                    })
                    .collect()
            })
            .collect();
        colours = next;
        if dict.len() == classes {
            break;
        }
        classes = dict.len();
    }
    colours
        .iter()
        .map(|c| {
            let mut h = BTreeMap::new();
            for &x in c {
                *h.entry(x).or_insert(0) += 1;
            }
            h
        })
        .collect()
}

/// Isomorphism invariants of a vertex-transitive graph (such as a circulant) seen from node 0:
/// the shortest-path distance counts, and the numbers of closed walks of lengths 1 to 16
/// (the diagonal of `A^m`, which determines the spectrum's power sums).
fn invariants(g: &Graph) -> (Vec<usize>, Vec<u64>) {
    let mut dist = vec![usize::MAX; g.n()];
    let mut queue = std::collections::VecDeque::from([0]);
    dist[0] = 0;
    while let Some(u) = queue.pop_front() {
        for v in g.neighbours(u) {
            if dist[v] == usize::MAX {
                dist[v] = dist[u] + 1;
                queue.push_back(v);
            }
        }
    }
    let mut profile = vec![0; g.n()];
    for d in dist {
        profile[d] += 1;
    }
    let mut walks = vec![0u64; g.n()];
    walks[0] = 1;
    let closed = (1..=16)
        .map(|_| {
            walks = (0..g.n())
                .map(|u| g.neighbours(u).map(|v| walks[v]).sum())
                .collect();
            walks[0]
        })
        .collect();
    (profile, closed)
}

#[test]
fn csl_sizes_labels_and_regularity() {
    assert_eq!(csl_skips(), [2, 3, 4, 5, 6, 9, 11, 12, 13, 16]);
    let data = csl(CSL_COPIES, 0);
    assert_eq!(data.len(), 150);
    for class in 0..10 {
        assert_eq!(data.iter().filter(|(_, c)| *c == class).count(), 15);
    }
    for (i, (g, class)) in data.iter().enumerate() {
        assert_eq!(*class, i / CSL_COPIES, "class-major order");
        assert_eq!(g.n(), CSL_NODES);
        assert!((0..CSL_NODES).all(|u| g.degree(u) == 4));
        assert_eq!(g.edge_count(), 82);
    }
    assert_eq!(csl(CSL_COPIES, 0), data, "deterministic");
    assert_ne!(csl(CSL_COPIES, 1), data, "the seed matters");
    assert_eq!(csl(3, 0).len(), 30);
    assert!(csl(0, 0).is_empty());
}

#[test]
fn csl_copies_are_relabellings_of_their_class() {
    let seed = 9;
    let data = csl(CSL_COPIES, seed);
    for (class, &k) in csl_skips().iter().enumerate() {
        let base = circulant(CSL_NODES, &[1, k]);
        let copies: Vec<&Graph> = data
            .iter()
            .filter(|(_, c)| *c == class)
            .map(|(g, _)| g)
            .collect();
        for (m, g) in copies.iter().enumerate() {
            let perm = csl_permutation(class, m, seed);
            // the relabelling applied maps the class's circulant onto the copy, and back
            assert_eq!(base.permuted(&perm).expect("a permutation"), **g);
            let mut inv = vec![0; CSL_NODES];
            for (i, &p) in perm.iter().enumerate() {
                inv[p] = i;
            }
            assert_eq!(g.permuted(&inv).expect("a permutation"), base);
        }
        // so any two copies are isomorphic: copy b = copy a relabelled by inv_a o perm_b
        let (pa, pb) = (
            csl_permutation(class, 0, seed),
            csl_permutation(class, 1, seed),
        );
        let mut inv_a = vec![0; CSL_NODES];
        for (i, &p) in pa.iter().enumerate() {
            inv_a[p] = i;
        }
        let a_to_b: Vec<usize> = pb.iter().map(|&p| inv_a[p]).collect();
        assert_eq!(
            copies[0].permuted(&a_to_b).expect("a permutation"),
            *copies[1]
        );
        // and the copies really are relabelled (not all the same labelled graph)
        assert!(copies.iter().any(|g| **g != base));
        assert_ne!(copies[0], copies[1]);
    }
}

#[test]
fn csl_classes_are_distinct_but_1wl_equivalent() {
    let data = csl(2, 3);
    let reps: Vec<&Graph> = (0..10).map(|c| &data[2 * c].0).collect();
    // the classes are pairwise non-isomorphic: their invariants differ
    let profiles: Vec<_> = reps.iter().map(|g| invariants(g)).collect();
    for a in 0..10 {
        for b in a + 1..10 {
            assert_ne!(profiles[a], profiles[b], "classes {a} and {b}");
        }
    }
    // yet 1-WL gives every graph of every class the same colour histogram
    let histograms = wl_histograms(&reps);
    assert!(histograms.iter().all(|h| *h == histograms[0]));
    assert_eq!(
        histograms[0].len(),
        1,
        "one colour class: all 41 nodes alike"
    );
    // while 1-WL does tell apart graphs that are not regular of the same degree
    let path = Graph::from_edges(4, &[(0, 1), (1, 2), (2, 3)]).expect("valid");
    let star = Graph::from_edges(4, &[(0, 1), (0, 2), (0, 3)]).expect("valid");
    let h = wl_histograms(&[&path, &star]);
    assert_ne!(h[0], h[1]);
    let h = wl_histograms(&[reps[0], &circulant(CSL_NODES, &[1])]);
    assert_ne!(h[0], h[1], "a 4-regular and a 2-regular graph");
}
