//! What one login costs: an argon2id hash with the node's parameters
//! (19 MiB, 2 passes, 1 lane), against a SHA-256 of the same input in the
//! same run for scale. The parameters are sized so a Raspberry Pi 5 stays
//! well under a quarter of a second per login.

use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut argon = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        let h = pvm_node::auth::hash_secret("correct horse battery staple").expect("hash");
        argon.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(h.starts_with("$argon2id$"));
    }
    let mut sha = Vec::new();
    for _ in 0..15 {
        use sha2::Digest;
        let t = Instant::now();
        let _ = sha2::Sha256::digest(b"correct horse battery staple");
        sha.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let a = median(argon);
    println!("login cost (argon2id m=19 MiB, t=2, p=1), median of 15");
    println!("  argon2id hash      {a:>9.2} ms");
    println!("  sha-256 (scale)    {:>9.4} ms", median(sha));
    println!("  logins/s per core  {:>9.0}", 1e3 / a);
}
