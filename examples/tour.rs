//! The tour: three "services" (three ZooKeeper sessions in one process, standing in for three
//! machines) register themselves, elect a leader, share a lock-protected job, hand out work
//! through a queue, follow a config node through caches, then live through a leader failover
//! and a session expiry, printing every event and a summary.
//!
//! ```text
//! cargo run --example tour                                 # on the embedded server
//! ZK_CONNECT=zk1:2181,zk2:2181 cargo run --example tour    # or on your ensemble
//! ```
//!
//! By default it starts zk-testing's embedded ZooKeeper-compatible server on a free loopback
//! port: nothing to install. Everything it creates lives under `/tour-<pid>` and is deleted at
//! the end. Exits non-zero if anything is not as expected.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use zk_core::{AddWatchMode, Client, CreateMode, EventType, Op, SessionEvent};
use zk_examples::{BoxError, Sandbox};
use zk_recipes::cache::{NodeCache, NodeEvent};
use zk_recipes::queue::DistributedQueue;
use zk_recipes::{InterProcessMutex, LatchEvent, LeaderLatch};

const STEPS: usize = 8;
/// Lock-protected job runs per service.
const JOBS: usize = 2;
/// Work items the leader puts in the queue.
const WORK_ITEMS: usize = 6;
/// The longest any one wait may take before the tour gives up.
const PATIENCE: Duration = Duration::from_secs(30);

/// Something that happened to a service, as printed while the tour runs.
#[derive(Debug)]
enum Event {
    Latch(&'static str, LatchEvent),
    Session(&'static str, SessionEvent),
    Registry(EventType, String),
}

/// One "service": its session, its registration node, its seat in the leader election and its
/// cache of the shared config node.
struct Service {
    name: &'static str,
    client: Client,
    latch: LeaderLatch,
    config: NodeCache,
}

/// The progress display: `[3/8] +0.042s step title`, indented lines for what happens within.
struct Progress {
    started: Instant,
    step: usize,
}

impl Progress {
    fn step(&mut self, title: &str) {
        self.step += 1;
        println!("[{}/{STEPS}] +{:.3}s {title}", self.step, self.started.elapsed().as_secs_f64());
    }
}

fn detail(line: impl std::fmt::Display) {
    println!("        {line}");
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut progress = Progress { started: Instant::now(), step: 0 };

    // 1. Where is ZooKeeper? The embedded server unless ZK_CONNECT names an ensemble (see
    //    lib.rs). Everything the tour creates lives under its own root, `/tour-<pid>`.
    progress.step("connecting");
    let sandbox = Sandbox::create("tour").await?;
    let backend = sandbox.backend();
    detail(&backend);
    let (admin, root) = (&sandbox.admin, &sandbox.root);
    // The services see only the tour's subtree: a chroot in the connect string.
    let chrooted = &sandbox.chrooted;
    let (tx, mut events) = mpsc::unbounded_channel();

    // 2. Three services, each with its own session, register with ephemeral nodes: a node
    //    lives exactly as long as its session. A persistent recursive watch follows them.
    progress.step("three services register (ephemeral nodes)");
    admin.create(&format!("{root}/services"), b"", CreateMode::Persistent).await?;
    let mut registry =
        admin.add_watch(&format!("{root}/services"), AddWatchMode::PersistentRecursive).await?;
    let registry_tx = tx.clone();
    tokio::spawn(async move {
        // The stream's last item is an error if the admin's session ends.
        while let Some(Ok(e)) = registry.next().await {
            if registry_tx.send(Event::Registry(e.event_type, e.path)).is_err() {
                break;
            }
        }
    });
    let mut services = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        let service = Service::start(name, chrooted, &tx).await?;
        detail(format_args!("{name}: session 0x{:x}", service.client.session_id()));
        services.push(service);
    }
    let mut registered = 0;
    wait_for(&mut events, |e| {
        registered += usize::from(matches!(e, Event::Registry(EventType::NodeCreated, _)));
        registered == 3
    })
    .await?;

    // 3. Leader election (Curator's LeaderLatch layout): the first node in line leads.
    progress.step("leader election");
    for s in &services {
        s.latch.start()?;
    }
    let mut leaders = vec![wait_for_leader(&mut events, &services, "", |_| true).await?];

    // 4. A job that must never run twice at once, under a distributed mutex. The counter is
    //    read and rewritten without a version check on purpose: only the lock keeps it right.
    progress.step(&format!("lock-protected job ({JOBS} runs per service)"));
    let runs = lock_protected_job(&services).await?;
    detail(format_args!("counter = {runs} after {} runs: no lost update", JOBS * services.len()));
    if runs != JOBS * services.len() {
        return Err(format!("lost updates: counter {runs}, expected {}", JOBS * services.len()).into());
    }

    // 5. Work queue (Curator's DistributedQueue layout): the leader puts work items, the
    //    followers take them at-least-once: an item is deleted only when its taker acks it.
    progress.step(&format!("work queue: {} puts {WORK_ITEMS} items, the followers take them", leaders[0]));
    let work = work_queue(&services, leaders[0]).await?;
    detail(&work);

    // 6. Config cache: every service watches `/config` with a NodeCache (started with the
    //    service) and sees the leader's changes as events; `current()` reads it locally.
    progress.step(&format!("config cache: {} updates /config, every service sees it", leaders[0]));
    let leader_client = service(&services, leaders[0])?.client.clone();
    leader_client.create("/config", b"workers=2", CreateMode::Persistent).await?;
    config_events(&mut services, &[], "Created", "workers=2").await?;
    leader_client.set_data("/config", b"workers=4", None).await?;
    config_events(&mut services, &[], "Changed", "workers=4").await?;

    // 7. Failover: the leader's process "dies" (its session is closed). Its ephemeral nodes go
    //    with it and the next service in line is elected.
    let old = leaders[0];
    progress.step(&format!("failover: {old}, the leader, goes away"));
    let killed = Instant::now();
    service(&services, old)?.config.close().await?; // the process is gone, its cache too
    service(&services, old)?.client.close().await;
    let lost = |e: &Event| matches!(e, Event::Latch(n, LatchEvent::Lost) if *n == old);
    let next = wait_for_leader(&mut events, &services, old, lost).await?;
    let failover = killed.elapsed();
    detail(format_args!("{old} -> {next} in {:.1} ms", failover.as_secs_f64() * 1e3));
    leaders.push(next);

    // 8. Session expiry: the new leader's session expires. The service sees Disconnected then
    //    Expired, loses leadership and its node, its config cache reports Lost. Its client
    //    opens a new session by itself (NewSession): the service registers again, its latch
    //    rejoins behind the others and its cache re-syncs, catching up with what it missed.
    let victim = next;
    progress.step(&format!("session expiry: {victim}'s session expires"));
    let expired_at = Instant::now();
    sandbox.expire(&service(&services, victim)?.client, PATIENCE).await?;
    let expired = |e: &Event| matches!(e, Event::Session(n, SessionEvent::Expired) if *n == victim);
    let third = wait_for_leader(&mut events, &services, victim, expired).await?;
    let expiry = expired_at.elapsed();
    detail(format_args!("{victim} -> {third} in {:.1} ms", expiry.as_secs_f64() * 1e3));
    leaders.push(third);
    let rejoined = service(&services, victim)?.rejoin().await?;
    wait_for(&mut events, |e| matches!(e, Event::Registry(EventType::NodeCreated, p) if p.ends_with(victim)))
        .await?;
    let follower = !service(&services, victim)?.latch.is_leader();
    detail(format_args!("{victim} rejoined with session 0x{rejoined:x}, as a follower: {follower}"));
    // While it was away the new leader changed the config; the rebuilt cache reports that one
    // difference, then Initialized.
    service(&services, third)?.client.set_data("/config", b"workers=6", None).await?;
    config_events(&mut services, &[old, victim], "Changed", "workers=6").await?;
    let config = rebuild_config(service_mut(&mut services, victim)?).await?;

    // The summary, then clean up.
    println!("summary");
    println!("  backend             {backend}");
    println!("  leaders             {}", leaders.join(" -> "));
    println!("  failover (close)    {:.1} ms", failover.as_secs_f64() * 1e3);
    println!("  failover (expiry)   {:.1} ms, expiry detection included", expiry.as_secs_f64() * 1e3);
    println!("  lock-protected job  {runs} runs, never two at once");
    println!("  work queue          {work}");
    println!("  config cache        {config}");
    println!("  total               {:.3} s", progress.started.elapsed().as_secs_f64());
    for s in &services {
        s.config.close().await?;
        s.latch.close().await?;
        s.client.close().await;
    }
    sandbox.remove().await?;
    Ok(())
}

impl Service {
    /// Connects and registers `/services/<name>`; its seat in the election at `/leader` is
    /// taken by `latch.start()`.
    async fn start(
        name: &'static str,
        chrooted: &str,
        tx: &mpsc::UnboundedSender<Event>,
    ) -> Result<Self, BoxError> {
        let client = Self::connect(name, chrooted, tx).await?;
        let config = NodeCache::new(client.clone(), "/config")?; // the node need not exist yet
        config.start()?;
        let latch = LeaderLatch::new(client.clone(), "/leader", name)?;
        let mut latch_events = latch.events(); // subscribe first, to see every event
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(e) = latch_events.next().await {
                if tx.send(Event::Latch(name, e)).is_err() {
                    break;
                }
            }
        });
        Ok(Service { name, client, latch, config })
    }

    /// A new session that registers the service and reports its session events.
    async fn connect(
        name: &'static str,
        chrooted: &str,
        tx: &mpsc::UnboundedSender<Event>,
    ) -> Result<Client, BoxError> {
        let client = Client::builder(chrooted).session_timeout(Duration::from_secs(10)).connect().await?;
        client.create(&format!("/services/{name}"), b"", CreateMode::Ephemeral).await?;
        let mut session = client.session_events();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(e) = session.next().await {
                if tx.send(Event::Session(name, e)).is_err() {
                    break;
                }
            }
        });
        Ok(client)
    }

    /// After an expiry: waits for the client's new session and registers again there (the
    /// latch rejoins the election by itself). Returns the new session's id.
    async fn rejoin(&self) -> Result<i64, BoxError> {
        let mut states = self.client.state_watch();
        let renewed = states.wait_for(|s| s.epoch > 0 && s.state.is_connected());
        let status = timeout(PATIENCE, renewed).await?.ok_or("the client ended")?;
        self.client.create(&format!("/services/{}", self.name), b"", CreateMode::Ephemeral).await?;
        Ok(status.session_id)
    }
}

fn service<'a>(services: &'a [Service], name: &str) -> Result<&'a Service, BoxError> {
    services.iter().find(|s| s.name == name).ok_or_else(|| format!("no service {name}").into())
}

fn service_mut<'a>(services: &'a mut [Service], name: &str) -> Result<&'a mut Service, BoxError> {
    services.iter_mut().find(|s| s.name == name).ok_or_else(|| format!("no service {name}").into())
}

/// Prints events as they come until a service other than `outgoing` reports `Elected` and
/// `also` has matched an event too; returns the new leader's name.
async fn wait_for_leader(
    events: &mut mpsc::UnboundedReceiver<Event>,
    services: &[Service],
    outgoing: &str,
    mut also: impl FnMut(&Event) -> bool,
) -> Result<&'static str, BoxError> {
    let (mut elected, mut seen) = (None, false);
    wait_for(events, |e| {
        if let Event::Latch(name, LatchEvent::Elected) = e {
            // The outgoing leader may be re-elected for a moment while its session is
            // being taken over: only a successor counts.
            if *name != outgoing {
                elected = Some(*name);
            }
        }
        seen = seen || also(e);
        elected.is_some() && seen
    })
    .await?;
    let name = elected.ok_or("no leader")?;
    let leader = service(services, name)?.latch.leader().await?;
    let id = leader.map(|p| String::from_utf8_lossy(&p.id).into_owned());
    detail(format_args!("{name} leads; the server agrees: {}", id.as_deref().unwrap_or("nobody")));
    if id.as_deref() != Some(name) {
        return Err(format!("{name} was elected but the server's first participant is {id:?}").into());
    }
    Ok(name)
}

/// Prints events as they come until `done` says so (at most PATIENCE).
async fn wait_for(
    events: &mut mpsc::UnboundedReceiver<Event>,
    mut done: impl FnMut(&Event) -> bool,
) -> Result<(), BoxError> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv()).await;
        let event = event.map_err(|_| "timed out waiting for an event")?.ok_or("event channel closed")?;
        print_event(&event);
        if done(&event) {
            return Ok(());
        }
    }
}

fn print_event(event: &Event) {
    match event {
        Event::Latch(name, e) => detail(format_args!("event: {name} latch {e:?}")),
        Event::Session(name, e) => detail(format_args!("event: {name} session {e:?}")),
        Event::Registry(t, path) => detail(format_args!("event: registry {t:?} {path}")),
    }
}

/// The leader puts WORK_ITEMS items; every follower consumes at-least-once (each item is
/// locked by one taker and deleted when acked). Returns a line for the summary.
async fn work_queue(services: &[Service], leader: &str) -> Result<String, BoxError> {
    let queue = DistributedQueue::new(service(services, leader)?.client.clone(), "/work")?;
    for i in 1..=WORK_ITEMS {
        queue.put(format!("item-{i}").as_bytes()).await?;
    }
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let mut consumers = Vec::new();
    for s in services.iter().filter(|s| s.name != leader) {
        let (name, done_tx) = (s.name, done_tx.clone());
        let mut items = DistributedQueue::new(s.client.clone(), "/work")?.at_least_once();
        consumers.push(tokio::spawn(async move {
            // Bounded: the main task stops the consumers once every item is acked.
            for _ in 0..WORK_ITEMS {
                let Some(delivery) = items.next().await else { break };
                let delivery = delivery?;
                let item = String::from_utf8_lossy(&delivery.items()[0]).into_owned();
                tokio::time::sleep(Duration::from_millis(20)).await; // the work itself
                delivery.ack().await?; // processed: delete it (dropping it would give it back)
                detail(format_args!("{name} took and acked {item}"));
                if done_tx.send(name).is_err() {
                    break;
                }
            }
            Ok::<_, BoxError>(())
        }));
    }
    let mut taken: Vec<&str> = Vec::new();
    while taken.len() < WORK_ITEMS {
        let name = timeout(PATIENCE, done.recv()).await.map_err(|_| "the queue stalled")?;
        taken.push(name.ok_or("the consumers stopped early")?);
    }
    for c in consumers {
        c.abort(); // a consumer waiting for more work gives nothing up when dropped
    }
    let left = queue.node_count().await?;
    if left != 0 {
        return Err(format!("{left} items left in the queue").into());
    }
    let mut by: Vec<String> = Vec::new();
    for s in services.iter().filter(|s| s.name != leader) {
        by.push(format!("{} x{}", s.name, taken.iter().filter(|n| **n == s.name).count()));
    }
    Ok(format!("{WORK_ITEMS} items, each acked once ({}), queue empty", by.join(", ")))
}

/// Every service not in `skip` (gone, or rejoining) reads its config cache's next events up to one of `kind`
/// with `value`, printing them (the first ones may be the initial Initialized).
async fn config_events(
    services: &mut [Service],
    skip: &[&str],
    kind: &str,
    value: &str,
) -> Result<(), BoxError> {
    for s in services.iter_mut().filter(|s| !skip.contains(&s.name)) {
        for _ in 0..4 {
            let event = next_config(s).await?;
            let wanted = match &event {
                NodeEvent::Created(n) => kind == "Created" && n.data == value.as_bytes(),
                NodeEvent::Changed(n) => kind == "Changed" && n.data == value.as_bytes(),
                NodeEvent::Initialized => false,
                other => return Err(format!("{}: unexpected config event {other:?}", s.name).into()),
            };
            if wanted {
                break;
            }
        }
        let current = s.config.current().map(|n| n.data);
        if current.as_deref() != Some(value.as_bytes()) {
            return Err(format!("{}'s config cache shows {current:?}, expected {value}", s.name).into());
        }
    }
    Ok(())
}

/// After its session expired: the service's cache reported Lost, then re-synced on the
/// client's new session: it reports the change made meanwhile (as a difference found by the
/// re-sync, or live if the re-sync came first) and Initialized. Returns a line for the summary.
async fn rebuild_config(s: &mut Service) -> Result<String, BoxError> {
    let lost = next_config(s).await?;
    if !matches!(lost, NodeEvent::Lost(zk_recipes::Error::SessionEnded(_))) {
        return Err(format!("{}: expected Lost, got {lost:?}", s.name).into());
    }
    let (mut changed, mut initialized) = (false, false);
    for _ in 0..2 {
        match next_config(s).await? {
            NodeEvent::Changed(n) if n.data == b"workers=6" => changed = true,
            NodeEvent::Initialized => initialized = true,
            other => return Err(format!("{}: after Lost, unexpected {other:?}", s.name).into()),
        }
    }
    if !(changed && initialized) {
        return Err(format!("{}: after Lost, expected Changed and Initialized", s.name).into());
    }
    Ok(format!("every change seen by every service; {} re-synced on its new session and caught up", s.name))
}

/// The next event of a service's config cache, printed.
async fn next_config(s: &mut Service) -> Result<NodeEvent, BoxError> {
    let event = timeout(PATIENCE, s.config.next()).await.map_err(|_| "no config event")?;
    let event = event.ok_or("the config cache ended")?;
    match &event {
        NodeEvent::Created(n) | NodeEvent::Changed(n) => {
            let kind = if matches!(event, NodeEvent::Created(_)) { "Created" } else { "Changed" };
            detail(format_args!("event: {} config {kind} {:?}", s.name, String::from_utf8_lossy(&n.data)))
        }
        other => detail(format_args!("event: {} config {other:?}", s.name)),
    }
    Ok(event)
}

/// Every service runs the job JOBS times, each run under the mutex; returns the final counter.
async fn lock_protected_job(services: &[Service]) -> Result<usize, BoxError> {
    services[0].client.create("/job-counter", b"0", CreateMode::Persistent).await?;
    let mut tasks = Vec::new();
    for s in services {
        let (name, client) = (s.name, s.client.clone());
        let mutex = InterProcessMutex::new(client.clone(), "/locks/job")?.with_id(name.as_bytes());
        tasks.push(tokio::spawn(async move {
            for _ in 0..JOBS {
                let guard = mutex.acquire().await?;
                let (data, _) = client.get_data("/job-counter").await?;
                let n: usize = String::from_utf8(data)?.parse()?;
                // Fenced: applied only while our lock node exists (not after an expiry).
                guard.fenced(&[Op::set_data("/job-counter", (n + 1).to_string().as_bytes(), None)]).await?;
                detail(format_args!("job run #{} by {name}", n + 1));
                guard.release().await?;
            }
            Ok::<_, BoxError>(())
        }));
    }
    for t in tasks {
        timeout(PATIENCE, t).await???;
    }
    let (data, _) = services[0].client.get_data("/job-counter").await?;
    Ok(String::from_utf8(data)?.parse()?)
}
