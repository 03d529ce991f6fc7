//! Deterministic, realistic tenant data: Turkish and English names (skewed, the way
//! real name frequencies are), phone numbers in the spellings people type, all four
//! channel types, and message histories of realistic lengths.
//!
//! The same seed and base time always give the same rows, so the checker can rebuild
//! in memory exactly what the seeder wrote and compute the answers the server must
//! give. Everything the server derives (normalised addresses, search keys) goes
//! through `switchboard_core`, never a copy of its rules.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchboard_core::address;
use switchboard_core::search::{conversation_key, customer_key};
use switchboard_core::ChannelType;

const TURKISH_FIRST: &[&str] = &[
    "Ayşe",
    "Mehmet",
    "Fatma",
    "Mustafa",
    "Emine",
    "Ahmet",
    "Hatice",
    "Ali",
    "Zeynep",
    "Hüseyin",
    "Elif",
    "Hasan",
    "Meryem",
    "İbrahim",
    "Şerife",
    "İsmail",
    "Zehra",
    "Osman",
    "Sultan",
    "Yusuf",
    "Merve",
    "Murat",
    "Özlem",
    "Ömer",
    "Büşra",
    "Ramazan",
    "Esra",
    "Halil",
    "Gül",
    "Süleyman",
    "Dilek",
    "Abdullah",
    "Derya",
    "Mahmut",
    "Selin",
    "Recep",
    "Ebru",
    "Salih",
    "Tuğba",
    "Fatih",
    "Gülşen",
    "Kadir",
    "İpek",
    "Emre",
    "Nur",
    "Hakan",
    "Şule",
    "Burak",
    "Çiğdem",
    "Serkan",
    "Gizem",
    "Uğur",
    "Aslı",
    "Oğuz",
    "Ece",
    "Çağlar",
    "Irmak",
    "Barış",
    "Işıl",
    "Gökhan",
    "Ilgın",
    "Tolga",
    "Sevgi",
    "Onur",
    "Pınar",
    "Kerem",
    "Damla",
    "Arda",
    "Buse",
    "Efe",
];
const TURKISH_LAST: &[&str] = &[
    "Yılmaz",
    "Kaya",
    "Demir",
    "Şahin",
    "Çelik",
    "Yıldız",
    "Yıldırım",
    "Öztürk",
    "Aydın",
    "Özdemir",
    "Arslan",
    "Doğan",
    "Kılıç",
    "Aslan",
    "Çetin",
    "Kara",
    "Koç",
    "Kurt",
    "Özkan",
    "Şimşek",
    "Polat",
    "Özcan",
    "Korkmaz",
    "Çakır",
    "Erdoğan",
    "Yavuz",
    "Can",
    "Acar",
    "Şen",
    "Aktaş",
    "Güler",
    "Yalçın",
    "Güneş",
    "Bozkurt",
    "Bulut",
    "Keskin",
    "Ünal",
    "Turan",
    "Gül",
    "Özer",
    "Işık",
    "Kaplan",
    "Avcı",
    "Sarı",
    "Tekin",
    "Taş",
    "Köse",
    "Yüksel",
    "Ateş",
    "Aksoy",
    "Ekinci",
    "Tunç",
    "Uçar",
    "Altun",
    "Sönmez",
    "Karaca",
    "Erdem",
    "Eren",
    "Akın",
    "Çiftçi",
    "İnce",
    "Uysal",
    "Oral",
    "Bayram",
    "Kahraman",
    "Aydoğan",
    "Ilıcak",
    "Ilgaz",
    "Karakaya",
    "Toprak",
    "Kocabaş",
    "Güven",
    "Sezer",
    "Kalkan",
    "Duman",
    "Orhan",
    "Baysal",
    "Gündoğdu",
];
const ENGLISH_FIRST: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Emma",
    "Daniel",
    "Olivia",
    "Matthew",
    "Sophie",
    "George",
    "Amelia",
    "Oliver",
    "Isla",
    "Harry",
    "Grace",
    "Jack",
    "Chloe",
    "Noah",
    "Lily",
    "Ian",
    "Iris",
];
const ENGLISH_LAST: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson",
    "Taylor", "Anderson", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White",
    "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Hill", "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell", "Roberts", "Turner",
    "Phillips", "Campbell", "Parker", "Evans", "Edwards", "Collins", "Stewart", "Irving",
];

const CUSTOMER_LINES: &[&str] = &[
    "Merhaba",
    "Merhaba, randevu almak istiyorum.",
    "Siparişim ne zaman kargoya verilecek?",
    "Teşekkürler, iyi günler!",
    "Fiyat bilgisi alabilir miyim?",
    "Yarın saat 14:00 uygun mu?",
    "Cumartesi açık mısınız?",
    "Ödeme kapıda yapılabiliyor mu?",
    "Ürün elime ulaştı ama kutu hasarlı geldi, değişim yapabilir miyiz?",
    "Adresimi güncellemem gerekiyor: Atatürk Cad. No: 12 Kadıköy / İstanbul",
    "Tamam",
    "👍",
    "Hi, is the clinic open on Saturday?",
    "Can I change my appointment to next week?",
    "Thanks for the quick reply!",
    "Where is my order? It has been five days.",
    "Do you ship to Germany?",
    "ok",
    "I was charged twice for the same order, can you please check and refund one of them?",
];
const AGENT_LINES: &[&str] = &[
    "Merhaba, size nasıl yardımcı olabilirim?",
    "Tabii, yarın 14:00 için randevunuzu oluşturdum.",
    "Siparişiniz bugün kargoya verildi, takip numaranızı SMS ile ilettik.",
    "Fiyat listemizi hemen gönderiyorum.",
    "Rica ederiz, iyi günler dileriz!",
    "Hello! How can I help you today?",
    "Your appointment is confirmed for Tuesday at 10:30.",
    "We ship to all EU countries; delivery takes 3 to 5 working days.",
    "I have forwarded your request to our billing team; they will get back to you within a day.",
];
const LONG_TAIL: &str =
    " Ayrıca geçen hafta konuştuğumuz konuyla ilgili de bilgi almak istiyorum; \
    size birkaç kez ulaşmaya çalıştım ama dönüş olmadı. Also, could you tell me whether the \
    warranty covers the replacement part, and how long it would take to arrive?";

/// What to generate for one tenant.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub conversations: usize,
    /// Average messages per conversation (each gets 1 to 2M-1).
    pub messages_per_conversation: usize,
    pub seed: u64,
    /// Every generated instant lies in the year before this.
    pub base_time: DateTime<Utc>,
}

/// The tenant's channels, as stored.
#[derive(Debug, Clone)]
pub struct ChannelRef {
    pub id: i64,
    pub channel_type: ChannelType,
}

/// Which channels a generated tenant has: two WhatsApp numbers and one of each
/// other type. Conversations pick them with these weights.
pub const CHANNEL_MIX: [(ChannelType, u32); 5] = [
    (ChannelType::Whatsapp, 35),
    (ChannelType::Whatsapp, 20),
    (ChannelType::Instagram, 20),
    (ChannelType::Website, 15),
    (ChannelType::Telegram, 10),
];

#[derive(Debug, Clone)]
pub struct Message {
    pub is_customer: bool,
    pub body: String,
    pub at: DateTime<Utc>,
    pub external_id: Option<String>,
    pub status: Option<&'static str>,
    pub read: bool,
}

/// One conversation with its customer and messages, and everything the server
/// would derive from them.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub index: usize,
    /// Index into the tenant's channels (see `CHANNEL_MIX`).
    pub channel: usize,
    pub channel_type: ChannelType,
    pub first_name: Option<&'static str>,
    pub last_name: Option<&'static str>,
    /// Normalised, as stored.
    pub address: String,
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
    pub messages: Vec<Message>,
}

impl Conversation {
    pub fn search_key(&self) -> String {
        conversation_key(
            self.first_name,
            self.last_name,
            &self.address,
            self.phone.as_deref(),
        )
    }

    pub fn customer_search_key(&self) -> String {
        customer_key(self.first_name, self.last_name, self.phone.as_deref(), None)
    }

    pub fn activity_at(&self) -> DateTime<Utc> {
        self.messages.last().map_or(self.created_at, |m| m.at)
    }

    /// Customer messages after the last agent message.
    pub fn unread_count(&self) -> i64 {
        self.messages
            .iter()
            .rev()
            .take_while(|m| m.is_customer)
            .count() as i64
    }
}

/// Generates a tenant's conversations in order; `index` runs from 0.
pub struct Generator {
    spec: Spec,
    rng: StdRng,
    next: usize,
}

impl Generator {
    pub fn new(spec: Spec) -> Self {
        Self {
            spec,
            rng: StdRng::seed_from_u64(spec.seed),
            next: 0,
        }
    }
}

impl Iterator for Generator {
    type Item = Conversation;

    fn next(&mut self) -> Option<Conversation> {
        if self.next >= self.spec.conversations {
            return None;
        }
        let i = self.next;
        self.next += 1;
        Some(conversation(&mut self.rng, &self.spec, i))
    }
}

/// The customer names of `count` generated conversations: the seeder's mix of
/// Turkish and English names, nameless customers included, as a load that adds
/// conversations would bring them.
pub fn customer_names(
    count: usize,
    seed: u64,
) -> Vec<(Option<&'static str>, Option<&'static str>)> {
    let spec = Spec {
        conversations: count,
        messages_per_conversation: 1,
        seed,
        base_time: Utc::now(),
    };
    Generator::new(spec)
        .map(|c| (c.first_name, c.last_name))
        .collect()
}

/// A skewed pick: the first entries of a list are more frequent than the last, as
/// real names are (the first of 80 gets about 3.4%, as Yılmaz has among Turkish
/// surnames; the last about 0.6%).
fn skewed(rng: &mut StdRng, list: &[&'static str]) -> &'static str {
    let x: f64 = rng.gen();
    list[(x.powf(1.3) * list.len() as f64) as usize % list.len()]
}

fn pick_channel(rng: &mut StdRng) -> usize {
    let total: u32 = CHANNEL_MIX.iter().map(|(_, w)| w).sum();
    let mut roll = rng.gen_range(0..total);
    for (index, (_, weight)) in CHANNEL_MIX.iter().enumerate() {
        if roll < *weight {
            return index;
        }
        roll -= weight;
    }
    0
}

/// ASCII form of a name for handles (`Şule` -> `sule`).
fn handle_part(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'ş' | 'Ş' => 's',
            'ı' | 'İ' | 'I' => 'i',
            'ğ' | 'Ğ' => 'g',
            'ü' | 'Ü' => 'u',
            'ö' | 'Ö' => 'o',
            'ç' | 'Ç' => 'c',
            c => c.to_ascii_lowercase(),
        })
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

/// A raw address as a customer's client would send it; unique per index `i`.
fn raw_address(
    rng: &mut StdRng,
    channel_type: ChannelType,
    i: usize,
    first: Option<&str>,
    last: Option<&str>,
) -> String {
    let i = i as u64;
    match channel_type {
        ChannelType::Whatsapp => {
            // Mostly Turkish mobiles (+90 5xx); (operator, subscriber) is injective in
            // i for i < 10^7 because 7_654_321 is coprime to 10^7.
            let subscriber = (i * 7_654_321 + 1_234_567) % 10_000_000;
            if i % 8 != 7 {
                let operator = 30 + i % 26;
                let (a, b, c) = (
                    subscriber / 10_000,
                    subscriber / 100 % 100,
                    subscriber % 100,
                );
                match rng.gen_range(0..4) {
                    0 => format!("+90 5{operator} {a:03} {b:02} {c:02}"),
                    1 => format!("0090 5{operator} {a:03}{b:02}{c:02}"),
                    2 => format!("+90 (5{operator}) {a:03}-{b:02}-{c:02}"),
                    _ => format!("+905{operator}{a:03}{b:02}{c:02}"),
                }
            } else {
                format!("+44 7{} {subscriber:07}", 100 + i % 900)
            }
        }
        ChannelType::Telegram => {
            if i.is_multiple_of(2) {
                format!("{}", 100_000_000 + i * 37)
            } else {
                let name = format!(
                    "{}_{}{}",
                    handle_part(first.unwrap_or("user")),
                    handle_part(last.unwrap_or("tg")),
                    i
                );
                format!("@{}", name.chars().take(32).collect::<String>())
            }
        }
        ChannelType::Instagram => {
            let handle = format!(
                "{}.{}.{}",
                handle_part(first.unwrap_or("ig")),
                handle_part(last.unwrap_or("user")),
                i
            );
            if handle.len() <= 30 {
                handle
            } else {
                format!("ig.{i}")
            }
        }
        ChannelType::Website => format!("visitor-{i:07}-{:04x}", rng.gen_range(0..0x10000)),
    }
}

fn body(rng: &mut StdRng, is_customer: bool) -> String {
    let lines = if is_customer {
        CUSTOMER_LINES
    } else {
        AGENT_LINES
    };
    let mut text = lines[rng.gen_range(0..lines.len())].to_string();
    match rng.gen_range(0..100) {
        0..=2 => text.push_str(LONG_TAIL),
        3..=17 => {
            text.push(' ');
            text.push_str(lines[rng.gen_range(0..lines.len())]);
        }
        _ => {}
    }
    text
}

fn conversation(rng: &mut StdRng, spec: &Spec, i: usize) -> Conversation {
    let channel = pick_channel(rng);
    let channel_type = CHANNEL_MIX[channel].0;
    let turkish = rng.gen_range(0..10) < 7;
    let (firsts, lasts) = if turkish {
        (TURKISH_FIRST, TURKISH_LAST)
    } else {
        (ENGLISH_FIRST, ENGLISH_LAST)
    };
    // How often a customer's name is known depends on the channel.
    let (p_first, p_last) = match channel_type {
        ChannelType::Whatsapp => (95, 85),
        ChannelType::Telegram => (90, 60),
        ChannelType::Instagram => (85, 60),
        ChannelType::Website => (55, 40),
    };
    let first = (rng.gen_range(0..100) < p_first).then(|| skewed(rng, firsts));
    let last = (rng.gen_range(0..100) < p_last).then(|| skewed(rng, lasts));
    let raw = raw_address(rng, channel_type, i, first, last);
    let address = address::normalize(channel_type, &raw)
        .unwrap_or_else(|e| panic!("generated address {raw:?} is invalid: {}", e.message()));
    let phone = (channel_type == ChannelType::Whatsapp).then(|| address.clone());

    let seconds_back = rng.gen_range(0..365 * 24 * 3600);
    let last_activity = spec.base_time - Duration::seconds(seconds_back);
    let count = rng.gen_range(1..=(2 * spec.messages_per_conversation).max(2) - 1);
    let gaps: Vec<i64> = (0..count).map(|_| rng.gen_range(30..6 * 3600)).collect();
    let span: i64 = gaps.iter().sum();
    let created_at = last_activity - Duration::seconds(span);
    let mut at = created_at;
    let mut is_customer = true;
    let mut messages = Vec::with_capacity(count);
    for (j, gap) in gaps.iter().enumerate() {
        at += Duration::seconds(*gap);
        messages.push(Message {
            is_customer,
            body: body(rng, is_customer),
            at,
            external_id: is_customer.then(|| format!("ext-{i}-{j}")),
            status: (!is_customer).then_some("delivered"),
            read: false,
        });
        // Replies alternate mostly; sometimes one side writes twice.
        if rng.gen_range(0..10) < 7 {
            is_customer = !is_customer;
        }
    }
    // Customer messages before the last agent reply have been read.
    if let Some(last_agent) = messages.iter().rposition(|m| !m.is_customer) {
        for m in &mut messages[..last_agent] {
            m.read = m.is_customer;
        }
    }
    Conversation {
        index: i,
        channel,
        channel_type,
        first_name: first,
        last_name: last,
        address,
        phone,
        created_at,
        messages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(n: usize) -> Spec {
        Spec {
            conversations: n,
            messages_per_conversation: 3,
            seed: 7,
            base_time: DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    #[test]
    fn same_seed_same_data() {
        let a: Vec<_> = Generator::new(spec(50)).map(|c| c.search_key()).collect();
        let b: Vec<_> = Generator::new(spec(50)).map(|c| c.search_key()).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn addresses_are_unique_per_channel_and_every_type_occurs() {
        let mut seen = std::collections::HashSet::new();
        let mut types = std::collections::HashSet::new();
        for c in Generator::new(spec(20_000)) {
            assert!(seen.insert((c.channel, c.address.clone())), "{}", c.address);
            types.insert(c.channel_type);
            assert!(!c.messages.is_empty());
            assert!(c.messages.windows(2).all(|w| w[0].at < w[1].at));
            assert!(c.activity_at() <= spec(0).base_time);
        }
        assert_eq!(types.len(), 4);
    }
}
