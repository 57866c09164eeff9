//! Rule evaluation cost: routing decisions per second, single thread, with 0, 10, 50 and 200
//! rules (the rules `tend loadgen` routes with), one JSON object per line.
//!
//! ```text
//! cargo run --release -p tend-routing --example rules_bench -- [--seconds N]
//! ```
//!
//! The inputs are 2,000 posts of the load generator's traffic (questions, complaints, churn,
//! praise, spam, reposts; five languages, six channels), read by the built-in enrichment, a third
//! of the authors linked customers with a segment, tier and value. A decision is the whole of
//! `decide`: binding the facts, every condition, the priority and the SLA deadlines (one policy
//! on a business calendar).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use tend_calendar::Calendar;
use tend_proto::v1;
use tend_routing::config::TenantRouting;
use tend_routing::decide::decide;
use tend_routing::rules::RuleSet;
use tend_routing::sla::SlaPolicy;

fn inputs() -> Vec<v1::InteractionIdentified> {
    let traffic = tend_loadgen::traffic::Traffic::new(tend_loadgen::traffic::TrafficConfig::new(7, "bench"));
    let analyzer = tend_text::Analyzer::default();
    (0..2_000u64)
        .map(|index| {
            let post = traffic.post(index);
            let request = post.request(7, None);
            let reading = analyzer.enrich(&tend_text::Input::new(&post.text));
            let linked = index % 3 == 0;
            v1::InteractionIdentified {
                interaction: Some(v1::Interaction {
                    id: format!("i{index}"),
                    channel: request.channel,
                    external_id: request.external_id,
                    author: request.author,
                    text: request.text,
                    received_at: Some(tend_kernel::ids::to_timestamp(Utc::now())),
                    enrichment: Some(tend_ingest::enrichment_to_proto(reading)),
                    ..v1::Interaction::default()
                }),
                status: if linked { v1::IdentityStatus::Linked } else { v1::IdentityStatus::Unknown }.into(),
                customer_id: if linked { format!("c{index}") } else { String::new() },
                customer: linked.then(|| v1::CustomerSummary {
                    segment: ["consumer", "smb", "enterprise"][(index % 9 / 3) as usize].into(),
                    tier: ["silver", "gold", "vip"][(index % 27 / 9) as usize].into(),
                    lifetime_value: (index * 37 % 50_000) as f64,
                    orders: (index % 40) as u32,
                    ..v1::CustomerSummary::default()
                }),
                ..v1::InteractionIdentified::default()
            }
        })
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut seconds = 3.0;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().and_then(|value| value.parse().ok()).unwrap_or(seconds),
            other => panic!("unknown argument {other}"),
        }
    }
    let inputs = inputs();
    let spec = tend_calendar::CalendarSpec {
        time_zone: "Europe/London".into(),
        hours: {
            let mut hours = tend_calendar::HoursSpec::default();
            for day in [
                chrono::Weekday::Mon,
                chrono::Weekday::Tue,
                chrono::Weekday::Wed,
                chrono::Weekday::Thu,
                chrono::Weekday::Fri,
            ] {
                hours.day_mut(day).push("09:00-17:30".into());
            }
            hours
        },
        holidays: Vec::new(),
    };
    let calendar = Calendar::from_spec(&spec).expect("the bench calendar is valid");
    let policies = vec![SlaPolicy {
        name: "social".into(),
        channels: Vec::new(),
        segments: Vec::new(),
        calendar: Some("uk".into()),
        first_response: chrono::TimeDelta::hours(1),
        next_response: Some(chrono::TimeDelta::hours(2)),
        resolution: Some(chrono::TimeDelta::hours(24)),
        warn_at_percent: 80,
    }];
    for count in [0usize, 10, 50, 200] {
        let spec = tend_loadgen::rules::rule_set(count);
        let compiling = Instant::now();
        let rules = RuleSet::compile(1, &spec).expect("the load generator's rules compile");
        let compile_ms = compiling.elapsed().as_secs_f64() * 1e3;
        let config = TenantRouting {
            generation: 1,
            rules,
            policies: policies.clone(),
            calendars: HashMap::from([("uk".to_owned(), calendar.clone())]),
        };
        let root = cel::Context::with_env(config.rules.env.clone());
        let now = Utc::now();
        let (mut decided, mut fired) = (0u64, 0u64);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs_f64(seconds) {
            for input in &inputs {
                let decision = decide(&config, &root, input, now, &Default::default());
                fired += decision.evaluation.fired.len() as u64;
                decided += 1;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "{{\"section\":\"rules\",\"rules\":{},\"decisions_per_s\":{:.0},\"us_per_decision\":{:.2},\"rules_fired_per_decision\":{:.2},\"compile_ms\":{:.2}}}",
            count + 1,
            decided as f64 / elapsed,
            elapsed * 1e6 / decided as f64,
            fired as f64 / decided as f64,
            compile_ms
        );
    }
}
