//! The rota (issue 12, item 5): the request still goes to every live member (the seed's
//! rule), but per packet only the first live member of a hashed rota answers, and everyone on
//! a retry. Under loss on every link, it draws a fraction of `all`'s duplicate repairs and
//! still repairs what `all` repairs.

use groupcast_core::RequestStrategy;
use groupcast_sim::{Report, Scenario, run};

/// Issue 12's operator model with 12 viewers (10 s at 1,000 packets/s, 200 ms buffer, 5 %
/// loss on all UDP per viewer and 3 % per trunk, 5–15 ms peer links).
fn scenario(strategy: RequestStrategy, repair_enabled: bool) -> Scenario {
    let mut s = Scenario::operator_model(12);
    (s.client.strategy, s.client.repair_enabled, s.seed) = (strategy, repair_enabled, 3);
    s
}

#[test]
fn every_member_is_asked_and_one_answers() {
    let all = run(&scenario(RequestStrategy::All, true));
    let rota = run(&scenario(RequestStrategy::Rota, true));
    let control = run(&scenario(RequestStrategy::Rota, false));
    let line = |r: &Report| {
        format!(
            "lost {} unrecovered {} repaired {} duplicates {} served {} deferred {} requests {} \
             p50 {:?} p99 {:?}",
            r.total(|c| c.lost),
            r.total(|c| c.unrecovered),
            r.total(|c| c.repaired),
            r.total(|c| c.duplicate_repairs),
            r.total(|c| c.repairs_served),
            r.total(|c| c.serve_deferred),
            r.total(|c| c.requests_sent),
            r.latency.0,
            r.latency.1
        )
    };
    println!("all:  {}\nrota: {}", line(&all), line(&rota));
    // The control shows the holes repair has to fill.
    let holes = control.total(|c| c.unrecovered);
    assert!(holes > 5_000, "control: {holes}");
    // Rota repairs what `all` repairs (both leave only what whole groups lost).
    let (left_all, left_rota) = (all.total(|c| c.unrecovered), rota.total(|c| c.unrecovered));
    assert!(
        left_rota <= left_all + left_all / 2 + 10,
        "rota left {left_rota}, all {left_all}"
    );
    for c in &rota.clients {
        assert_eq!(
            c.output.gaps, c.counters.unrecovered,
            "the player sees what is left"
        );
    }
    // Every live member is still asked: as many request messages as under `all`.
    assert!(rota.total(|c| c.requests_sent) * 10 >= all.total(|c| c.requests_sent) * 9);
    // Members ranked after the first leave the packet to it...
    assert!(rota.total(|c| c.serve_deferred) > rota.total(|c| c.repaired));
    // (Under `all`, only a quiet spell's first tail probe names answerers.)
    let deferred = |r: &Report| r.total(|c| c.serve_deferred);
    assert!(
        deferred(&all) > 0 && deferred(&all) * 10 < deferred(&rota),
        "deferred: all {}, rota {}",
        deferred(&all),
        deferred(&rota)
    );
    // ...so there are far fewer duplicate repairs, and far less upload.
    let per_repair =
        |r: &Report| r.total(|c| c.duplicate_repairs) as f64 / r.total(|c| c.repaired) as f64;
    assert!(
        per_repair(&rota) < 0.5 && per_repair(&rota) * 2.5 < per_repair(&all),
        "duplicates per repair: rota {:.2}, all {:.2}",
        per_repair(&rota),
        per_repair(&all)
    );
    assert!(rota.total(|c| c.repairs_served) * 10 < all.total(|c| c.repairs_served) * 7);
}
