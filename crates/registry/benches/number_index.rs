//! In-process lookup of the current assignment, with N numbers loaded (default 10 million).
//!
//! Prints lookups per second on one core and on every core, bytes of heap per loaded number,
//! and, as the physical limit measured in the same run, random 8-byte reads per second from a
//! buffer as large as the index (what a DRAM-bound hash lookup cannot beat).
//!
//! `cargo bench -p vouch-registry --bench number_index` (VOUCH_BENCH_NUMBERS=N to change N).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use vouch_registry::{
    BrandId, CampaignId, CampaignSlot, CampaignStatus, NumberIndex, ProviderId, TelephoneNumber, ThroughputClass,
};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const CAMPAIGNS: u64 = 1_000;
const WINDOW: Duration = Duration::from_secs(3);

fn main() {
    let n: usize = std::env::var("VOUCH_BENCH_NUMBERS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1);
    let mut rng = SmallRng::seed_from_u64(42);
    let numbers: Vec<TelephoneNumber> = {
        let mut set = std::collections::HashSet::with_capacity(n);
        while set.len() < n {
            // NANP numbers: +1 NXX NXX XXXX
            set.insert(10_000_000_000 + rng.random_range(2_000_000_000u64..9_999_999_999));
        }
        set.into_iter().filter_map(TelephoneNumber::from_digits).collect()
    };

    let before = LIVE.load(Ordering::Relaxed);
    let started = Instant::now();
    let index = NumberIndex::with_capacity(n);
    for c in 0..CAMPAIGNS {
        index.put_campaign(CampaignSlot {
            id: CampaignId::from_random(c),
            brand: BrandId::from_random(c),
            csp: ProviderId::from_random(1),
            dca: Some(ProviderId::from_random(2)),
            status: CampaignStatus::Active,
            throughput_class: ThroughputClass::A,
        });
    }
    for (i, num) in numbers.iter().enumerate() {
        index.assign(*num, CampaignId::from_random(i as u64 % CAMPAIGNS));
    }
    let load_secs = started.elapsed().as_secs_f64();
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    println!("numbers loaded:                {n} in {load_secs:.2} s ({:.0} inserts/s)", n as f64 / load_secs);
    println!(
        "index heap:                    {:.1} MiB = {:.1} bytes per number (target <= 64)",
        bytes as f64 / 1048576.0,
        bytes as f64 / n as f64
    );

    // 2^20 query numbers drawn from the loaded ones, shuffled, indexed with a mask.
    let mut queries: Vec<TelephoneNumber> = numbers.choose_multiple(&mut rng, (1 << 20).min(n)).copied().collect();
    queries.shuffle(&mut rng);
    let mask = queries.len().next_power_of_two() - 1;
    queries.resize(mask + 1, queries[0]);
    drop(numbers);

    let run = |threads: usize, f: &(dyn Fn(TelephoneNumber) -> bool + Sync)| -> f64 {
        let total: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let q = &queries;
                    s.spawn(move || {
                        let start = Instant::now();
                        let mut done = 0u64;
                        let mut i = t * 7919;
                        while start.elapsed() < WINDOW {
                            for _ in 0..10_000 {
                                assert!(f(q[i & mask]));
                                i += 1;
                            }
                            done += 10_000;
                        }
                        done as f64 / start.elapsed().as_secs_f64()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0.0) as u64).sum()
        });
        total as f64
    };
    let full = |q| black_box(index.lookup(black_box(q))).is_some();
    let ordinal = |q| black_box(index.campaign_ordinal(black_box(q))).is_some();
    println!("lookup (number -> campaign slot), 1 core:      {:>12.0} lookups/s (target >= 10,000,000)", run(1, &full));
    println!("lookup (number -> campaign slot), {cores} cores:     {:>12.0} lookups/s", run(cores, &full));
    println!("lookup (number -> campaign ordinal), 1 core:   {:>12.0} lookups/s", run(1, &ordinal));

    // Physical limit: independent random reads from a buffer the size of the index.
    let words = (bytes / 8).max(1 << 20);
    let buf: Vec<u64> = (0..words as u64).collect();
    let start = Instant::now();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut sum = 0u64;
    let mut reads = 0u64;
    while start.elapsed() < WINDOW {
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            sum = sum.wrapping_add(buf[(x % words as u64) as usize]);
        }
        reads += 10_000;
    }
    black_box(sum);
    println!(
        "limit: random 8-byte DRAM reads, 1 core:       {:>12.0} reads/s over {:.0} MiB",
        reads as f64 / start.elapsed().as_secs_f64(),
        (words * 8) as f64 / 1048576.0
    );
    println!("peak heap during run:          {:.1} MiB", PEAK.load(Ordering::Relaxed) as f64 / 1048576.0);
}
