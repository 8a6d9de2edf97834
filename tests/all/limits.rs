//! The sandbox's limits: each one hit is a typed error to the caller and leaves the host
//! healthy (the next call works).

use crate::support::*;
use bytes::Bytes;
use llm_core_host::CacheOutcome;
use llm_core_host::types::*;
use llm_core_host::{HostOptions, LlmCore};
use replay_server::{ReplayServer, Reply, replies};
use std::time::{Duration, Instant};

async fn healthy_after(client: &llm_core_host::Client, server: &ReplayServer) {
    server.push(CHAT, Reply::json(fixture("sglang-chat.json")));
    assert_eq!(
        client.chat(ask("hi")).await.unwrap().content.as_deref(),
        Some("Hello from SGLang."),
        "the host still works"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_cap() {
    let server = ReplayServer::start().await;
    let host = core_with(HostOptions {
        max_memory_bytes: 16 << 20,
        ..HostOptions::default()
    });
    let mut cfg = config(BackendKind::Vllm, &server.base_url());
    cfg.max_response_bytes = Some(60 << 20); // the guest would accept it; the host's memory cap stops it
    let client = host.client(cfg).await.unwrap();
    server.push(CHAT, replies::text(&"x".repeat(40 << 20)));
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::LimitExceeded, "{e:?}");
    assert!(
        e.message.contains("memory limit") && e.message.contains("max_memory_bytes"),
        "{}",
        e.message
    );
    // The guest never returned, yet the error says where the call went.
    assert_eq!(e.backend.as_deref(), Some(authority(&server).as_str()));
    assert_eq!(e.attempts, 1);
    healthy_after(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cpu_cap() {
    let server = ReplayServer::start().await;
    let host = core_with(HostOptions {
        max_cpu_time: Duration::from_millis(1),
        ..HostOptions::default()
    });
    let mut cfg = config(BackendKind::Vllm, &server.base_url());
    cfg.max_response_bytes = Some(64 << 20);
    let client = host.client(cfg).await.unwrap();
    // Reading and parsing 24 MB takes tens of milliseconds of wasm: several CPU ticks.
    server.push(CHAT, replies::text(&"x".repeat(24 << 20)));
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::LimitExceeded, "{e:?}");
    assert!(
        e.message.contains("CPU limit") && e.message.contains("max_cpu_time"),
        "{}",
        e.message
    );
    assert_eq!(e.backend.as_deref(), Some(authority(&server).as_str()));
    assert_eq!(e.attempts, 1);
    healthy_after(&client, &server).await;
}

/// The backend name the guest gives a server without a configured name: `host:port`.
fn authority(server: &ReplayServer) -> String {
    server.addr().to_string()
}

/// A stream whose first event is small and whose second is `huge_len` bytes of text, sent
/// 300 ms apart (so the first is delivered before the second arrives).
fn first_small_then_huge(huge_len: usize) -> Reply {
    let first = replies::event(&replies::content_chunk("first words"));
    let huge = replies::event(&replies::content_chunk(&"x".repeat(huge_len)));
    Reply::sse_raw([first, huge]).delayed(Duration::from_millis(300))
}

/// Reads a stream to its end: the content delivered and the error it ended with.
async fn stream_until_error(stream: llm_core_host::ChatStream) -> (String, Error, Duration) {
    use futures::StreamExt;
    let started = Instant::now();
    let mut stream = stream;
    let mut content = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamEvent::Content(t)) => content.push_str(&t),
            Ok(StreamEvent::Done(r)) => {
                panic!("the stream finished: {:?}", r.content.map(|c| c.len()))
            }
            Ok(_) => {}
            Err(e) => return (content, e, started.elapsed()),
        }
    }
    panic!("the stream ended without an error");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_stopped_by_a_limit_keeps_what_was_delivered() {
    let server = ReplayServer::start().await;
    let mut cfg = config(BackendKind::Vllm, &server.base_url());
    cfg.max_response_bytes = Some(64 << 20);

    // Memory: the second event alone is larger than the instance may grow.
    let host = core_with(HostOptions {
        max_memory_bytes: 16 << 20,
        ..HostOptions::default()
    });
    let client = host.client(cfg.clone()).await.unwrap();
    server.push(CHAT, first_small_then_huge(40 << 20));
    let (delivered, e, took) =
        stream_until_error(client.chat_stream(ask("hi")).await.unwrap()).await;
    eprintln!("memory limit on a stream: error after {took:?}");
    assert_eq!(delivered, "first words");
    assert_eq!(e.code, ErrorCode::LimitExceeded, "{e:?}");
    assert!(e.message.contains("memory limit"), "{}", e.message);
    let partial = e.partial.expect("the delivered text is kept");
    assert_eq!(partial.content.as_deref(), Some("first words"));
    assert_eq!(partial.backend, authority(&server));
    assert_eq!(e.backend.as_deref(), Some(authority(&server).as_str()));
    assert_eq!(e.attempts, 1);
    healthy_after(&client, &server).await;

    // CPU: reading, scanning, parsing and copying out a 48 MB event takes far longer than
    // 15 ms of wasm (several passes over the bytes), while starting the stream and the first
    // event take well under 1 ms (the margin is for a loaded machine: the meter counts wall
    // time spent in wasm). The memory limit is raised so that it is the CPU limit that trips.
    let host = core_with(HostOptions {
        max_cpu_time: Duration::from_millis(15),
        max_memory_bytes: 512 << 20,
        ..HostOptions::default()
    });
    let client = host.client(cfg).await.unwrap();
    server.push(CHAT, first_small_then_huge(48 << 20));
    let (delivered, e, took) =
        stream_until_error(client.chat_stream(ask("hi")).await.unwrap()).await;
    eprintln!("CPU limit on a stream: error after {took:?}");
    assert_eq!(delivered, "first words");
    assert_eq!(e.code, ErrorCode::LimitExceeded, "{e:?}");
    assert!(e.message.contains("CPU limit"), "{}", e.message);
    let partial = e.partial.expect("the delivered text is kept");
    assert_eq!(partial.content.as_deref(), Some("first words"));
    assert_eq!(partial.backend, authority(&server));
    assert_eq!(partial.model, "m");
    assert_eq!(e.attempts, 1);
    healthy_after(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_caps_a_whole_call_against_a_server_that_drips_forever() {
    let server = ReplayServer::start().await;
    let cap = Duration::from_millis(1500);
    let host = core_with(HostOptions {
        max_call_duration: cap,
        ..HostOptions::default()
    });
    let mut cfg = config(BackendKind::Vllm, &server.base_url());
    // The component's own limits would let this run for ten minutes: every drip comes
    // well within the between-bytes timeout.
    cfg.timeouts.total_ms = Some(600_000);
    cfg.timeouts.between_bytes_ms = Some(2_000);
    cfg.retry.max_attempts = Some(1);
    let client = host.client(cfg).await.unwrap();
    let within = |took: Duration| took >= cap && took < cap + Duration::from_secs(1);

    // `chat`: a JSON answer that never ends, one byte every 100 ms.
    server.push(
        CHAT,
        Reply::Repeat {
            status: 200,
            content_type: "application/json".into(),
            head: Bytes::from_static(b"{\"choices\":[{\"message\":{\"content\":\""),
            part: Bytes::from_static(b"x"),
            count: None,
            delay: Duration::from_millis(100),
        },
    );
    let started = Instant::now();
    let e = client.chat(ask("hi")).await.unwrap_err();
    let took = started.elapsed();
    eprintln!("chat stopped by max_call_duration ({cap:?}) after {took:?}");
    assert_eq!(e.code, ErrorCode::Timeout(TimeoutKind::Total), "{e:?}");
    assert!(e.message.contains("max_call_duration"), "{}", e.message);
    assert!(within(took), "{took:?}");
    assert_eq!(e.backend.as_deref(), Some(authority(&server).as_str()));
    assert_eq!(e.attempts, 1);
    healthy_after(&client, &server).await;

    // A stream read as a `futures::Stream`: an event every 100 ms, forever.
    server.push(
        CHAT,
        replies::endless_content("tick ", Duration::from_millis(100)),
    );
    let started = Instant::now();
    let (delivered, e, _) = stream_until_error(client.chat_stream(ask("hi")).await.unwrap()).await;
    let took = started.elapsed();
    eprintln!("stream stopped by max_call_duration ({cap:?}) after {took:?}");
    assert_eq!(e.code, ErrorCode::Timeout(TimeoutKind::Total), "{e:?}");
    assert!(within(took), "{took:?}");
    assert!(delivered.starts_with("tick tick "), "{delivered}");
    assert_eq!(
        e.partial.and_then(|p| p.content).as_deref(),
        Some(delivered.as_str()),
        "everything delivered is in the partial response"
    );
    assert_eq!(e.backend.as_deref(), Some(authority(&server).as_str()));
    healthy_after(&client, &server).await;

    // The same stream on the pollable path (`ready` + `next_ready`).
    server.push(
        CHAT,
        replies::endless_content("tock ", Duration::from_millis(100)),
    );
    let started = Instant::now();
    let mut stream = client.chat_stream(ask("hi")).await.unwrap();
    let mut delivered = String::new();
    let e = loop {
        if let Err(e) = stream.ready().await {
            break e;
        }
        match stream.next_ready().await {
            Ok(events) => {
                for event in events {
                    if let StreamEvent::Content(t) = event {
                        delivered.push_str(&t);
                    }
                }
            }
            Err(e) => break e,
        }
    };
    let took = started.elapsed();
    eprintln!("pollable stream stopped by max_call_duration ({cap:?}) after {took:?}");
    assert_eq!(e.code, ErrorCode::Timeout(TimeoutKind::Total), "{e:?}");
    assert!(within(took), "{took:?}");
    assert!(delivered.starts_with("tock tock "), "{delivered}");
    assert_eq!(
        e.partial.and_then(|p| p.content).as_deref(),
        Some(delivered.as_str())
    );
    healthy_after(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn host_response_cap_stops_a_200_mb_body_and_an_endless_stream() {
    let server = ReplayServer::start().await;
    let host = core_with(HostOptions {
        max_response_bytes: 1 << 20,
        ..HostOptions::default()
    });
    let mut cfg = config(BackendKind::Vllm, &server.base_url());
    cfg.max_response_bytes = Some(1 << 30);
    let client = host.client(cfg).await.unwrap();
    let part = Bytes::from(vec![b' '; 64 * 1024]);
    server.push(
        CHAT,
        Reply::Repeat {
            status: 200,
            content_type: "application/json".into(),
            head: Bytes::from_static(b"{\"choices\":[{\"message\":{\"content\":\""),
            part: part.clone(),
            count: Some(3200),
            delay: Duration::ZERO,
        },
    );
    let started = Instant::now();
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::LimitExceeded, "{e:?}");
    assert!(
        e.message.contains("larger than the host allows"),
        "{}",
        e.message
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped early, not after 200 MB"
    );

    server.push(CHAT, replies::endless_content("tick ", Duration::ZERO));
    let e = client
        .chat_stream(ask("hi"))
        .await
        .unwrap()
        .collect_response()
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::LimitExceeded, "{e:?}");
    assert!(
        e.partial
            .and_then(|p| p.content)
            .is_some_and(|c| c.len() > 10_000)
    );
    healthy_after(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrency_cap_with_a_queue_timeout() {
    let server = ReplayServer::start().await;
    server.on(CHAT, ok_reply().after(Duration::from_millis(800)));
    let host = core_with(HostOptions {
        max_concurrent_calls: 2,
        queue_timeout: Duration::from_millis(200),
        ..HostOptions::default()
    });
    let client = host
        .client(config(BackendKind::Vllm, &server.base_url()))
        .await
        .unwrap();
    let results = concurrent(&client, 3).await;
    let refused: Vec<&Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(refused.len(), 1, "{results:?}");
    assert_eq!(refused[0].code, ErrorCode::LimitExceeded);
    assert!(
        refused[0].message.contains("already in flight"),
        "{}",
        refused[0].message
    );
    assert_eq!(server.peak_in_flight(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn host_caps_the_timeouts_the_component_asks_for() {
    let server = ReplayServer::start().await;
    server.push(CHAT, Reply::Hang);
    let host = core_with(HostOptions {
        max_timeout: Duration::from_millis(300),
        ..HostOptions::default()
    });
    let mut cfg = config(BackendKind::Vllm, &server.base_url());
    cfg.retry.max_attempts = Some(1);
    let client = host.client(cfg).await.unwrap(); // first-byte default: 600 s
    let started = Instant::now();
    let e = client.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Timeout(TimeoutKind::FirstByte), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    healthy_after(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_pools_stay_bounded_whatever_the_connect_timeouts() {
    let server = ReplayServer::start().await;
    server.on(CHAT, ok_reply());
    let host = core();
    // Twenty clients, each with its own connect timeout (a pool is kept per timeout).
    for i in 0..20u32 {
        let mut cfg = config(BackendKind::Vllm, &server.base_url());
        cfg.timeouts.connect_ms = Some(1_000 + i);
        let client = host.client(cfg).await.unwrap();
        client.chat(ask("hi")).await.unwrap();
        assert!(host.connection_pools() <= 8, "{}", host.connection_pools());
    }
    assert_eq!(host.connection_pools(), 8);
    // A timeout used again reuses its pool: no new connection.
    let mut cfg = config(BackendKind::Vllm, &server.base_url());
    cfg.timeouts.connect_ms = Some(1_019);
    let client = host.client(cfg).await.unwrap();
    let before = server.connections();
    client.chat(ask("hi")).await.unwrap();
    assert_eq!(server.connections(), before);
    assert_eq!(host.connection_pools(), 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_slots_are_a_limit_too() {
    let server = ReplayServer::start().await;
    server.on(CHAT, ok_reply().after(Duration::from_millis(300)));
    let dir = tempdir("slots");
    let host = LlmCore::new(HostOptions {
        max_instances: 2,
        max_concurrent_calls: 8,
        compiled_cache: Some(dir.clone()),
        ..HostOptions::default()
    })
    .unwrap();
    let client = host
        .client(config(BackendKind::Vllm, &server.base_url()))
        .await
        .unwrap();
    let results = concurrent(&client, 4).await;
    let refused: Vec<&Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        !refused.is_empty()
            && refused
                .iter()
                .all(|e| e.code == ErrorCode::LimitExceeded && e.message.contains("max_instances")),
        "{results:?}"
    );
    assert!(results.iter().filter(|r| r.is_ok()).count() >= 1);
    std::fs::remove_dir_all(dir).ok();
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "llm-core-{tag}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    dir
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

#[test]
fn compiled_cache_is_verified_and_rebuilt_when_bad() {
    let dir = tempdir("cache");
    let options = || HostOptions {
        compiled_cache: Some(dir.clone()),
        ..HostOptions::default()
    };
    let first = LlmCore::new(options()).unwrap();
    assert_eq!(first.load_report().outcome, CacheOutcome::Stored);
    let entry = first.load_report().entry.clone().unwrap();
    let second = LlmCore::new(options()).unwrap();
    assert_eq!(second.load_report().outcome, CacheOutcome::Hit);
    assert!(second.load_report().elapsed < first.load_report().elapsed);

    // One flipped byte: ignored and rebuilt, never trusted.
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&entry, &bytes).unwrap();
    assert_eq!(
        LlmCore::new(options()).unwrap().load_report().outcome,
        CacheOutcome::Stored
    );
    assert_eq!(
        LlmCore::new(options()).unwrap().load_report().outcome,
        CacheOutcome::Hit
    );

    // Truncated, or shorter than its checksum: rebuilt.
    std::fs::write(&entry, &bytes[..100]).unwrap();
    assert_eq!(
        LlmCore::new(options()).unwrap().load_report().outcome,
        CacheOutcome::Stored
    );
    std::fs::write(&entry, vec![7u8; 10]).unwrap();
    assert_eq!(
        LlmCore::new(options()).unwrap().load_report().outcome,
        CacheOutcome::Stored
    );

    // Writable by others: never loaded, whatever it holds; the rebuilt entry is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(
            LlmCore::new(options()).unwrap().load_report().outcome,
            CacheOutcome::Stored
        );
        let mode = std::fs::metadata(&entry).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            LlmCore::new(options()).unwrap().load_report().outcome,
            CacheOutcome::Hit
        );
    }

    // Other component bytes (here: the same component plus a custom section) have another
    // key, so an entry is never used for the wrong component.
    let mut other = llm_core_host::EMBEDDED_COMPONENT.to_vec();
    other.extend_from_slice(&[0x00, 0x06, 0x04, b't', b'e', b's', b't', 0x01]);
    let core = LlmCore::from_bytes(&other, options()).unwrap();
    assert_eq!(core.load_report().outcome, CacheOutcome::Stored);
    assert_ne!(core.load_report().entry.as_ref(), Some(&entry));

    // An unwritable cache costs only speed.
    let unwritable = HostOptions {
        compiled_cache: Some("/proc/llm-core-cannot-write-here".into()),
        ..HostOptions::default()
    };
    assert_eq!(
        LlmCore::new(unwritable).unwrap().load_report().outcome,
        CacheOutcome::Compiled
    );
    std::fs::remove_dir_all(dir).ok();
}
