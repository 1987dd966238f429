// relgrow: Rust growth through realloc (alloc::raw_vec -> __rust_realloc -> realloc).
//   fill_vec      Vec<u64>, 2^20 pushes: capacities 4, 8, ... 2^20 -> each capacity change
//                 of a non-empty vector is one realloc step (the first allocation is a
//                 malloc) -> realloc chain, site relgrow::fill_vec, geometric
//   build_string  String, push_str of a 7-byte piece 20,000 times, same rule
// The program counts its steps from capacity() before/after each push and prints its truth
// as one JSON line (the format of reloc_truth.h). It writes with print! only: a format!()
// String would grow by realloc itself.
// The Rust runtime reallocs on its own before main (e.g. glibc's pthread_getattr_np under
// std's stack guard setup): with --baseline the program grows nothing, and the checker adds
// what counter.so counts for that run to the truth's "realloc_totals".
use std::hint::black_box;

#[inline(never)]
fn fill_vec(n: u64) -> (u64, u64) {
    let mut v: Vec<u64> = Vec::new();
    let mut steps = 0u64;
    for i in 0..n {
        let cap = v.capacity();
        let len = v.len();
        v.push(black_box(i));
        if v.capacity() != cap && len > 0 {
            steps += 1;
        }
    }
    let v = black_box(v);
    (steps, v[12345] + v.len() as u64)
}

#[inline(never)]
fn build_string(n: usize) -> (u64, u64) {
    let mut s = String::new();
    let mut steps = 0u64;
    for _ in 0..n {
        let cap = s.capacity();
        let len = s.len();
        s.push_str(black_box("abcdefg"));
        if s.capacity() != cap && len > 0 {
            steps += 1;
        }
    }
    let s = black_box(s);
    (steps, s.len() as u64 + s.as_bytes()[1000] as u64)
}

fn main() {
    let baseline = std::env::args().any(|a| a == "--baseline");
    let (vsteps, vsum) = if baseline { (0, 0) } else { fill_vec(1 << 20) };
    let (ssteps, ssum) = if baseline { (0, 0) } else { build_string(20000) };
    println!("checksum {}", vsum.wrapping_add(ssum));
    print!("{{\"program\": \"relgrow\", \"only_listed\": false, \"baseline_arg\": \"--baseline\", ");
    print!("\"relocation_totals\": {{\"steps\": 0, \"bytes_copied\": 0, \"chains\": 0}}, ");
    print!("\"realloc_totals\": {{\"steps\": {}, \"grows\": {}, \"chains\": {}, ", vsteps + ssteps,
           vsteps + ssteps, (vsteps > 0) as u64 + (ssteps > 0) as u64);
    print!("\"max_chain_steps\": {}}}, ", vsteps.max(ssteps));
    print!("\"sites\": [");
    print!("{{\"function\": \"relgrow::fill_vec\", \"kind\": \"realloc\", \"pattern\": \"geometric\", \
            \"steps\": {}, \"grows\": {}, \"chains\": 1}}, ", vsteps, vsteps);
    print!("{{\"function\": \"relgrow::build_string\", \"kind\": \"realloc\", \"pattern\": \"geometric\", \
            \"steps\": {}, \"grows\": {}, \"chains\": 1}}", ssteps, ssteps);
    print!("], \"origins\": [");
    print!("{{\"function\": \"relgrow::fill_vec\", \"kind\": \"realloc\", \"steps\": {}, \"chains\": 1}}, ",
           vsteps);
    print!("{{\"function\": \"relgrow::build_string\", \"kind\": \"realloc\", \"steps\": {}, \"chains\": 1}}",
           ssteps);
    println!("]}}");
}
