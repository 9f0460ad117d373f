//! Unit tests of the set family's helpers.

use super::random::rand_below;

#[test]
fn rand_below_stays_in_range_and_covers_it() {
    let mut seen = [false; 7];
    for _ in 0..1000 {
        let r = rand_below(7);
        assert!(r < 7);
        seen[r] = true;
    }
    assert!(seen.iter().all(|&s| s));
    assert_eq!(rand_below(1), 0);
}
