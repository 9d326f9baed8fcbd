//! The simulated side of Meta: numbers, tokens, customers, what was sent, and
//! a clock that tests can move. Ids are deterministic for a given seed.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;

/// How long an inbound message keeps the customer service window open.
pub const SERVICE_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// A registered business phone number.
#[derive(Debug, Clone, Serialize)]
pub struct Number {
    /// The Graph object id.
    pub id: String,
    /// Its WhatsApp Business Account.
    pub waba_id: String,
    /// E.164 without the `+`.
    pub display_phone_number: String,
    /// Messages per second before 130429.
    pub throughput_per_sec: u32,
    /// Registered for Cloud API (sending needs it: 133010).
    pub registered: bool,
    /// The two-step verification PIN, once set.
    #[serde(skip)]
    pub pin: Option<String>,
    /// Times of register calls, for the 10-per-72-hours limit.
    #[serde(skip)]
    pub register_calls: Vec<u64>,
    /// Whether PARTNER_ADDED was sent for it.
    #[serde(skip)]
    pub announced: bool,
}

/// What an access token may touch.
#[derive(Debug, Clone)]
pub struct Token {
    /// The WABA it was issued for.
    pub waba_id: String,
    /// Sandbox seconds after which it is expired (190/463).
    pub expires_at: Option<u64>,
}

/// A message a business sent through the sandbox.
#[derive(Debug, Clone, Serialize)]
pub struct SentMessage {
    /// The wamid returned to the sender.
    pub id: String,
    /// The sending number.
    pub phone_number_id: String,
    /// The recipient's wa_id.
    pub to: String,
    /// `text`, `image`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The request body as sent.
    pub body: serde_json::Value,
    /// Sandbox time (Unix seconds).
    pub timestamp: u64,
}

/// A token bucket on the sandbox clock.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: f64,
}

/// Everything the sandbox knows.
pub struct World {
    seed: u64,
    counter: u64,
    clock_offset: Duration,
    /// Numbers by id.
    pub numbers: HashMap<String, Number>,
    /// Tokens by value.
    pub tokens: HashMap<String, Token>,
    /// Last inbound time per (number, wa_id), which opens the service window.
    pub last_inbound: HashMap<(String, String), u64>,
    /// What was sent, oldest first.
    pub sent: Vec<SentMessage>,
    throughput: HashMap<String, Bucket>,
    pairs: HashMap<(String, String), Bucket>,
    /// The app's callback, subscribed WABAs and their overrides.
    pub callbacks: crate::callbacks::Callbacks,
    /// Webhooks waiting for their (next) try.
    pub deliveries: Vec<crate::webhooks::Delivery>,
    /// Every delivery attempt, oldest first.
    pub attempts: Vec<crate::webhooks::Attempt>,
    pub(crate) delivery_seq: u64,
    /// (number, wa_id) pairs whose user stopped marketing messages.
    pub marketing_stopped: std::collections::HashSet<(String, String)>,
    /// Uploaded media by id.
    pub media: HashMap<String, crate::media::Media>,
    /// Realism switches.
    pub switches: crate::switches::Switches,
    /// Switches of single numbers, overriding [`World::switches`] for their sends.
    pub number_switches: HashMap<String, crate::switches::Switches>,
    rng: u64,
    /// Authorization codes from Embedded Signup.
    pub codes: HashMap<String, crate::onboarding::Code>,
    /// Templates by id.
    pub templates: HashMap<String, crate::templates::Template>,
    pub(crate) template_seq: u64,
    /// Messaging limits by WABA (one portfolio each in the sandbox).
    pub portfolios: HashMap<String, crate::portfolio::Portfolio>,
    pub(crate) wake: Arc<tokio::sync::Notify>,
}

/// The sandbox's fixed starting point.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Makes ids reproducible.
    pub seed: u64,
    /// The WABA of the default number.
    pub waba_id: String,
    /// The default number's id.
    pub phone_number_id: String,
    /// The default number, E.164 without `+`.
    pub display_phone_number: String,
    /// A token valid for that WABA.
    pub access_token: String,
    /// The app's id.
    pub app_id: String,
    /// The app secret webhooks are signed with.
    pub app_secret: String,
}

impl Default for Seed {
    fn default() -> Self {
        Self {
            seed: 1,
            waba_id: "310000000000001".into(),
            phone_number_id: "420000000000002".into(),
            display_phone_number: "15550001111".into(),
            access_token: "sandbox-access-token".into(),
            app_id: "100000000000009".into(),
            app_secret: "sandbox-app-secret".into(),
        }
    }
}

impl World {
    /// A world with the seed's WABA, number and token.
    pub fn new(seed: &Seed) -> Self {
        let mut world = Self {
            seed: seed.seed,
            counter: 0,
            clock_offset: Duration::ZERO,
            numbers: HashMap::new(),
            tokens: HashMap::new(),
            last_inbound: HashMap::new(),
            sent: Vec::new(),
            throughput: HashMap::new(),
            pairs: HashMap::new(),
            callbacks: Default::default(),
            deliveries: Vec::new(),
            attempts: Vec::new(),
            delivery_seq: 0,
            templates: HashMap::new(),
            codes: HashMap::new(),
            switches: Default::default(),
            number_switches: HashMap::new(),
            media: HashMap::new(),
            rng: seed.seed ^ 0x9e37_79b9_7f4a_7c15,
            marketing_stopped: Default::default(),
            template_seq: 0,
            portfolios: HashMap::new(),
            wake: Arc::new(tokio::sync::Notify::new()),
        };
        world.numbers.insert(
            seed.phone_number_id.clone(),
            Number {
                id: seed.phone_number_id.clone(),
                waba_id: seed.waba_id.clone(),
                display_phone_number: seed.display_phone_number.clone(),
                throughput_per_sec: 80,
                registered: true,
                pin: None,
                register_calls: Vec::new(),
                announced: true,
            },
        );
        world.tokens.insert(
            seed.access_token.clone(),
            Token {
                waba_id: seed.waba_id.clone(),
                expires_at: None,
            },
        );
        world
    }

    /// Sandbox time as seconds since the epoch (real time plus the offset).
    pub fn now_secs_f64(&self) -> f64 {
        (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + self.clock_offset)
            .as_secs_f64()
    }

    /// Sandbox time in whole seconds.
    pub fn now(&self) -> u64 {
        self.now_secs_f64() as u64
    }

    /// Moves the clock forward.
    pub fn advance(&mut self, by: Duration) {
        self.clock_offset += by;
    }

    /// A reproducible draw in [0, 1) (splitmix64 on the seed).
    pub fn roll(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A fresh wamid, reproducible for a seed and a sequence of calls.
    pub fn wamid(&mut self, wa_id: &str) -> String {
        let n = self.next();
        format!(
            "wamid.{}",
            B64.encode(format!("{wa_id}:{}:{n:012}", self.seed))
        )
    }

    /// A fresh fbtrace_id.
    pub fn trace_id(&mut self) -> String {
        let n = self.next();
        let raw = B64
            .encode(format!("{}-{n}", self.seed))
            .replace(['=', '+', '/'], "");
        format!("A{raw}")
    }

    /// Whether the customer wrote to this number within the last 24 hours.
    pub fn window_open(&self, number: &str, wa_id: &str) -> bool {
        self.last_inbound
            .get(&(number.to_string(), wa_id.to_string()))
            .is_some_and(|at| self.now() < at + SERVICE_WINDOW.as_secs())
    }

    /// Takes one message from the number's throughput (false: 130429).
    pub fn take_throughput(&mut self, number: &str) -> bool {
        let rate = self
            .numbers
            .get(number)
            .map(|n| f64::from(n.throughput_per_sec))
            .unwrap_or(80.0);
        let now = self.now_secs_f64();
        take(
            self.throughput.entry(number.to_string()).or_insert(Bucket {
                tokens: rate,
                at: now,
            }),
            rate,
            rate,
            now,
        )
    }

    /// Takes one message from the (number, user) pair limit: bursts of 45,
    /// then one per 6 s (false: 131056).
    pub fn take_pair(&mut self, number: &str, wa_id: &str) -> bool {
        let now = self.now_secs_f64();
        let key = (number.to_string(), wa_id.to_string());
        take(
            self.pairs.entry(key).or_insert(Bucket {
                tokens: 45.0,
                at: now,
            }),
            45.0,
            1.0 / 6.0,
            now,
        )
    }
}

fn take(bucket: &mut Bucket, capacity: f64, per_sec: f64, now: f64) -> bool {
    bucket.tokens = (bucket.tokens + (now - bucket.at).max(0.0) * per_sec).min(capacity);
    bucket.at = now;
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        true
    } else {
        false
    }
}
