//! Rough timings of the business-time arithmetic: `cargo run --release -p tend-calendar --example calendar_bench`.

use std::hint::black_box;
use std::time::Instant;

use chrono::{TimeDelta, TimeZone, Utc};
use tend_calendar::{Calendar, CalendarSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec: CalendarSpec = serde_json::from_str(
        r#"{ "time_zone": "Europe/London",
             "hours": { "mon": ["09:00-12:00", "13:00-17:30"], "tue": ["09:00-12:00", "13:00-17:30"],
                        "wed": ["09:00-12:00", "13:00-17:30"], "thu": ["09:00-12:00", "13:00-17:30"],
                        "fri": ["09:00-12:00", "13:00-17:30"] },
             "holidays": [ { "date": "2026-04-03", "name": "Good Friday" }, { "date": "2026-04-06", "name": "Easter Monday" } ] }"#,
    )?;
    let calendar = Calendar::from_spec(&spec)?;
    let start = Utc.with_ymd_and_hms(2026, 3, 20, 16, 30, 0).single().ok_or("start")?;
    let cases = [
        ("add 4 business hours", TimeDelta::hours(4)),
        ("add 10 business days (75 h)", TimeDelta::hours(75)),
        ("add 250 business days", TimeDelta::minutes(250 * 450)),
    ];
    for (name, business) in cases {
        let runs = 20_000;
        let began = Instant::now();
        for _ in 0..runs {
            black_box(calendar.add(black_box(start), black_box(business)));
        }
        println!("{name}: {:.2} µs", began.elapsed().as_secs_f64() * 1e6 / f64::from(runs));
    }
    let end = start + TimeDelta::days(365);
    let runs = 1_000;
    let began = Instant::now();
    for _ in 0..runs {
        black_box(calendar.between(black_box(start), black_box(end)));
    }
    println!("between over a year: {:.2} µs", began.elapsed().as_secs_f64() * 1e6 / f64::from(runs));
    let began = Instant::now();
    black_box(Calendar::always().add(start, TimeDelta::days(1_000)));
    println!("always() plus 1,000 days: {:.2} µs", began.elapsed().as_secs_f64() * 1e6);
    Ok(())
}
