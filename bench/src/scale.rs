//! `--database-url postgres://…`: the durable example on PostgreSQL, with one and then two
//! server processes on one schema (a fresh one each time, dropped afterwards). For each: the
//! closed-loop peak with the connections spread over the servers, then the end to end time
//! until every run succeeded, the CPU of each server (PostgreSQL's own shows as "others") and
//! their memory.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::client::{self, LoadResult};
use crate::phases::{self, Numbering, Rt};
use crate::poll::POLL;
use crate::proc::{self, PhaseSampler};
use crate::report::{self, EndToEnd};
use crate::servers::ServerProcess;
use crate::{BoxError, Options, SECRET};

/// Runs the scale-out report against the database `url` names.
pub(crate) fn scale_out(
    rt: &Rt,
    executable: &Path,
    options: &Options,
    url: &str,
) -> Result<(), BoxError> {
    let mut numbering = Numbering::default();
    let mut rates = Vec::new();
    for servers in [1, 2] {
        let schema = format!("bench_{}_{servers}", std::process::id());
        let result = with_servers(
            rt,
            executable,
            options,
            url,
            &schema,
            servers,
            &mut numbering,
        );
        rt.block_on(drop_schema(url, &schema))?;
        rates.push((servers, result?));
    }
    report::heading("postgres: scaling out");
    for (servers, (ack, e2e)) in &rates {
        println!(
            "  {servers} server process(es): {ack:.0} webhooks/s acknowledged, {e2e:.0} runs/s end to end"
        );
    }
    Ok(())
}

/// `servers` processes on `schema`: warm-up, peak, end to end, memory. Returns the peak
/// acknowledged rate and the end-to-end rate.
fn with_servers(
    rt: &Rt,
    executable: &Path,
    options: &Options,
    url: &str,
    schema: &str,
    servers: usize,
    numbering: &mut Numbering,
) -> Result<(f64, f64), BoxError> {
    let url = with_schema(url, schema);
    report::heading(&format!(
        "postgres: {servers} server process(es) on schema {schema}"
    ));
    let mut procs = Vec::with_capacity(servers);
    for _ in 0..servers {
        let server =
            ServerProcess::start_durable_with(executable, SECRET, &["--database-url", &url])?;
        println!("  pid {} at http://{}", server.pid(), server.addr());
        procs.push(server);
    }
    let addrs: Vec<SocketAddr> = procs.iter().map(ServerProcess::addr).collect();
    let timeout = Duration::from_secs(options.e2e_timeout_secs);

    if options.warmup > 0 {
        let warm = spread(rt, &addrs, options.warmup, options.concurrency, numbering)?;
        check(&mut procs, "warm-up", &warm)?;
    }
    let baseline = rt.block_on(phases::counts(addrs[0]))?.total();
    phases::wait_for_runs(rt, &mut procs[0], baseline, timeout)?;

    let samplers = procs
        .iter()
        .map(|p| PhaseSampler::start(p.pid()))
        .collect::<Result<Vec<_>, _>>()?;
    let postgres = proc::named_cpu("postgres")?;
    let closed = spread(rt, &addrs, options.requests, options.concurrency, numbering)?;
    let postgres_peak = proc::named_cpu("postgres")? - postgres;
    let cpus = samplers
        .iter()
        .map(PhaseSampler::finish)
        .collect::<Result<Vec<_>, _>>()?;
    report::print_closed(&closed, options.concurrency);
    for (i, cpu) in cpus.iter().enumerate() {
        println!("  server {}:", i + 1);
        report::print_cpu(cpu);
    }
    check(&mut procs, "closed loop", &closed)?;

    let acked = Instant::now();
    let at_ack = rt.block_on(phases::counts(addrs[0]))?;
    let expected = baseline + closed.ok as u64;
    let postgres = proc::named_cpu("postgres")?;
    let done = phases::wait_for_runs(rt, &mut procs[0], expected, timeout)?;
    let postgres_drain = proc::named_cpu("postgres")? - postgres;
    let backlog = expected.saturating_sub(at_ack.succeeded);
    let drained = if backlog == 0 {
        String::new()
    } else {
        format!(
            "; {:.0} µs per run while draining the backlog alone",
            postgres_drain.as_secs_f64() * 1e6 / backlog as f64
        )
    };
    println!(
        "  PostgreSQL's processes: {:.2} cores during the peak ({:.0} µs per webhook, with the \
         runs executed meanwhile){drained}",
        postgres_peak.as_secs_f64() / closed.elapsed.as_secs_f64().max(1e-9),
        postgres_peak.as_secs_f64() * 1e6 / closed.ok.max(1) as f64,
    );
    let started = closed.started.unwrap_or(acked);
    let e2e = EndToEnd {
        runs: closed.ok as u64,
        total: done - started,
        ingest: closed.elapsed,
        backlog,
        drain: done.saturating_duration_since(acked),
    };
    report::print_end_to_end(&e2e, POLL);
    for server in &procs {
        report::print_memory(
            &format!("pid {}", server.pid()),
            proc::memory(server.pid())?,
        );
    }
    Ok((closed.rate(), e2e.rate()))
}

/// `count` signed webhooks in closed loops over `addrs` at once, `concurrency` connections in
/// all, split evenly; one result for them all.
fn spread(
    rt: &Rt,
    addrs: &[SocketAddr],
    count: usize,
    concurrency: usize,
    numbering: &mut Numbering,
) -> Result<LoadResult, BoxError> {
    let share = count.div_ceil(addrs.len());
    let connections = concurrency.div_ceil(addrs.len()).max(1);
    let loads: Vec<_> = addrs
        .iter()
        .map(|&addr| {
            let requests = numbering.webhooks(addr, share, client::Workload::BOOKING);
            client::closed_loop(addr, requests, connections)
        })
        .collect();
    let parts = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for load in loads {
            tasks.spawn(load);
        }
        tasks.join_all().await
    });
    let mut total = LoadResult::default();
    for part in parts {
        total.merge(part?);
    }
    Ok(total)
}

/// Fails loudly unless every answer was `200` and every server is alive.
fn check(procs: &mut [ServerProcess], phase: &str, result: &LoadResult) -> Result<(), BoxError> {
    for server in procs.iter_mut() {
        server.check_alive()?;
    }
    if result.non_ok == 0 {
        return Ok(());
    }
    let tails: String = procs.iter().map(ServerProcess::stderr_tail).collect();
    Err(format!(
        "{phase}: {} of {} answers were not 200; the first: {}{tails}",
        result.non_ok,
        result.non_ok + result.ok,
        result.first_error.as_deref().unwrap_or("?"),
    )
    .into())
}

/// `url` with `schema=` naming `schema`.
fn with_schema(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}schema={schema}")
}

/// Drops the bench's schema with everything in it.
async fn drop_schema(url: &str, schema: &str) -> Result<(), BoxError> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await?;
    drop(client);
    let _ = driver.await;
    Ok(())
}
