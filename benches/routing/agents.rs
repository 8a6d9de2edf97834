//! The multi-agent workload both routing benchmarks run: agents, each with its own long
//! system prompt and a growing history, sending their next turn when the last one returns,
//! all agents at once. Every call is recorded (backend, latency, time to first token,
//! prompt and cached tokens) for the report.

use futures::StreamExt;
use llm_core_host::Client;
use llm_core_host::types::{ChatRequest, Message, StreamEvent};
use std::time::{Duration, Instant};

/// What the agents send.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Concurrent agents.
    pub agents: usize,
    /// Turns per agent.
    pub turns: usize,
    /// Words of each agent's system prompt.
    pub system_words: usize,
    /// Words of each user turn.
    pub user_words: usize,
    /// `max-tokens` of every answer.
    pub max_tokens: u32,
    /// The model asked for.
    pub model: String,
    /// Stream the answers (to measure time to first token).
    pub stream: bool,
    /// Mixed into every prompt, so that one strategy's run never finds another's prompts
    /// in a server's cache.
    pub run: String,
}

/// One call as the agent saw it.
#[derive(Clone, Debug)]
pub struct Call {
    /// The agent (0-based).
    pub agent: usize,
    /// Its turn (0-based).
    pub turn: usize,
    /// The backend that answered (empty when the call failed).
    pub backend: String,
    /// The whole call.
    pub latency: Duration,
    /// Until the first content arrived (streams only).
    pub ttft: Option<Duration>,
    /// Prompt tokens, as the server counted them.
    pub prompt_tokens: u32,
    /// Of those, served from the server's prefix cache.
    pub cached_tokens: u32,
    /// Attempts the call took (retries after a dead backend).
    pub attempts: u32,
    /// The error, when it failed.
    pub error: Option<String>,
}

const WORDS: &[&str] = &[
    "agent", "plan", "task", "memory", "tool", "file", "report", "user", "goal", "step", "check",
    "result", "budget", "schedule", "risk", "data", "review", "draft", "search", "summary",
    "careful", "clear", "short", "always", "never", "before", "after", "with", "the", "a", "of",
    "to", "and", "in", "for", "on", "each", "every", "when", "then", "record", "answer",
    "question", "source", "note", "update", "list", "order", "team", "project", "deadline",
    "message", "calendar", "invoice", "contract", "customer", "price", "travel", "hotel", "flight",
    "weather", "code", "test", "error", "fix", "release",
];

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `n` pseudo-English words, the same for the same seed.
fn text(mut seed: u64, n: usize) -> String {
    let mut out = String::with_capacity(n * 7);
    for i in 0..n {
        if i > 0 {
            out.push(if i % 12 == 0 { '.' } else { ' ' });
            if i % 12 == 0 {
                out.push(' ');
            }
        }
        out.push_str(WORDS[(splitmix(&mut seed) % WORDS.len() as u64) as usize]);
    }
    out.push('.');
    out
}

/// One agent's conversation so far.
pub struct Agent {
    /// Its number.
    pub id: usize,
    messages: Vec<Message>,
}

impl Agent {
    /// A new agent: its system prompt, no turns yet.
    pub fn new(w: &Workload, id: usize) -> Agent {
        let system = format!(
            "Run {}. You are agent {id} of an agent operating system. Follow these standing instructions. {}",
            w.run,
            text(id as u64 * 7919 + 1, w.system_words)
        );
        Agent {
            id,
            messages: vec![Message::system(system)],
        }
    }

    /// The session id the agent's calls carry.
    pub fn session(&self) -> String {
        format!("agent-{}", self.id)
    }

    /// Sends turn `turn` and appends the question and the answer to the history.
    pub async fn turn(&mut self, client: &Client, w: &Workload, turn: usize) -> Call {
        let question = format!(
            "Turn {turn}: {}",
            text((self.id as u64) << 32 | turn as u64, w.user_words)
        );
        self.messages.push(Message::user(question));
        let mut req = ChatRequest::new(self.messages.clone());
        req.model = Some(w.model.clone());
        req.sampling.max_tokens = Some(w.max_tokens);
        req.sampling.temperature = Some(0.0);
        req.session_id = Some(self.session());
        let started = Instant::now();
        let mut call = Call {
            agent: self.id,
            turn,
            backend: String::new(),
            latency: Duration::ZERO,
            ttft: None,
            prompt_tokens: 0,
            cached_tokens: 0,
            attempts: 0,
            error: None,
        };
        let answer = if w.stream {
            streamed(client, req, started, &mut call).await
        } else {
            client.chat(req).await
        };
        call.latency = started.elapsed();
        let content = match answer {
            Ok(r) => {
                call.backend = r.backend;
                call.attempts = r.attempts;
                if let Some(u) = r.usage {
                    call.prompt_tokens = u.prompt_tokens;
                    call.cached_tokens = u.cached_tokens.unwrap_or(0);
                }
                r.content.unwrap_or_default()
            }
            Err(e) => {
                call.attempts = e.attempts;
                call.error = Some(e.message);
                String::from("(no answer)")
            }
        };
        self.messages.push(Message::assistant(content));
        call
    }
}

async fn streamed(
    client: &Client,
    req: ChatRequest,
    started: Instant,
    call: &mut Call,
) -> Result<llm_core_host::types::ChatResponse, llm_core_host::types::Error> {
    let mut stream = client.chat_stream(req).await?;
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::Content(_) | StreamEvent::Reasoning(_) => {
                call.ttft.get_or_insert_with(|| started.elapsed());
            }
            StreamEvent::Done(r) => return Ok(r),
            _ => {}
        }
    }
    Err(llm_core_host::types::Error::new(
        llm_core_host::types::ErrorCode::MalformedResponse,
        "the stream ended without its final response",
    ))
}

/// Runs `turns` for every agent, all agents at once (each on its own task), each agent
/// sending its next turn when the last returns. Returns the agents and every call.
pub async fn run(
    client: &Client,
    w: &Workload,
    agents: Vec<Agent>,
    turns: std::ops::Range<usize>,
) -> (Vec<Agent>, Vec<Call>) {
    let tasks: Vec<_> = agents
        .into_iter()
        .map(|mut agent| {
            let (client, w, turns) = (client.clone(), w.clone(), turns.clone());
            tokio::spawn(async move {
                let mut calls = Vec::with_capacity(turns.len());
                for t in turns {
                    calls.push(agent.turn(&client, &w, t).await);
                }
                (agent, calls)
            })
        })
        .collect();
    let mut agents = Vec::new();
    let mut calls = Vec::new();
    for t in tasks {
        let (a, c) = t.await.expect("agent task");
        agents.push(a);
        calls.extend(c);
    }
    (agents, calls)
}
