//! What the benchmarks print.

/// Median, min and max as "median X, min Y, max Z" (`unit` after each).
pub fn spread(samples: &[f64], unit: &str, decimals: usize) -> String {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let f = |v: f64| format!("{v:.decimals$}{unit}");
    format!(
        "median {}, min {}, max {}",
        f(s[s.len() / 2]),
        f(s[0]),
        f(s[s.len() - 1])
    )
}
