//! Checks a running server's answers on a seeded database against the data the seed
//! wrote (rebuilt in memory from the same seed): totals, page contents and order,
//! channel filters, searches, pagination links, messages, and tenant isolation.
//! Also picks the benchmark's scenario parameters from that data.

use crate::data::{Conversation, Generator};
use crate::seed::{BoxError, SeedReport, SeededTenant};
use serde::Serialize;
use serde_json::Value;
use switchboard_core::search::SearchPattern;
use switchboard_core::ChannelType;

/// What the load scenarios use, chosen from the seeded data.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioParams {
    pub tenant: i64,
    pub token: String,
    pub conversations: usize,
    /// L4: a fragment of a customer name.
    pub name_search: String,
    pub name_search_matches: usize,
    /// L5: part of a phone number, spelled with spaces.
    pub phone_search: String,
    pub phone_search_matches: usize,
    /// L6: a name nobody has.
    pub missing_search: String,
    /// L7: the conversation at the top of the list with the most messages.
    pub messages_conversation: i64,
    pub messages_in_conversation: usize,
    /// I1: a WhatsApp channel of the big tenant and its inbound secret.
    pub inbound_channel: i64,
    pub inbound_secret: String,
    /// C1: a channel to open conversations on.
    pub create_channel: i64,
    pub checks_passed: usize,
}

/// The name fragment L4 searches for unless told otherwise: a common Turkish
/// surname, typed without its dotless ı (the folding must find "Yılmaz").
pub const DEFAULT_NAME_SEARCH: &str = "yilmaz";
pub const MISSING_SEARCH: &str = "zqxwv";

/// One row of the in-memory model: what the list order and search need.
struct Row {
    id: i64,
    activity: i64,
    key: String,
    channel_type: ChannelType,
    messages: usize,
    phone: Option<String>,
}

fn model(report: &SeedReport, tenant: &SeededTenant) -> Vec<Row> {
    let mut rows: Vec<Row> = Generator::new(tenant.spec(report))
        .map(|c: Conversation| Row {
            id: tenant.first_conversation_id + c.index as i64,
            activity: c.activity_at().timestamp(),
            key: c.search_key(),
            channel_type: c.channel_type,
            messages: c.messages.len(),
            phone: c.phone.clone(),
        })
        .collect();
    // The list order: most recent activity first, ties by id descending.
    rows.sort_by_key(|r| std::cmp::Reverse((r.activity, r.id)));
    rows
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    passed: usize,
}

impl Client {
    async fn get(&self, tenant: i64, path_and_query: &str) -> Result<Value, BoxError> {
        let url = if path_and_query.starts_with("http") {
            path_and_query.to_string()
        } else {
            format!("{}{}", self.base, path_and_query)
        };
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .header("X-Tenant", tenant.to_string())
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            return Err(format!("GET {url}: {status} {body}").into());
        }
        Ok(body)
    }

    fn expect(
        &mut self,
        what: &str,
        ok: bool,
        detail: impl FnOnce() -> String,
    ) -> Result<(), BoxError> {
        if ok {
            self.passed += 1;
            Ok(())
        } else {
            Err(format!("check failed: {what}: {}", detail()).into())
        }
    }

    /// One list request against the model: total and the ids of the page, in order.
    async fn list(
        &mut self,
        tenant: i64,
        query: &str,
        expected: &[&Row],
        page: usize,
        per_page: usize,
    ) -> Result<Value, BoxError> {
        let body = self
            .get(tenant, &format!("/api/v1/conversations?{query}"))
            .await?;
        let total = body["meta"]["total"].as_u64().unwrap_or(u64::MAX) as usize;
        self.expect(
            &format!("total of ?{query}"),
            total == expected.len(),
            || format!("server {total}, seeded {}", expected.len()),
        )?;
        let got: Vec<i64> = body["data"]
            .as_array()
            .map(|d| d.iter().filter_map(|c| c["id"].as_i64()).collect())
            .unwrap_or_default();
        let want: Vec<i64> = expected
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|r| r.id)
            .collect();
        self.expect(&format!("page of ?{query}"), got == want, || {
            format!("server {got:?}, seeded {want:?}")
        })?;
        Ok(body)
    }
}

fn matching<'a>(rows: &'a [Row], search: &str) -> Vec<&'a Row> {
    match SearchPattern::parse(search) {
        Some(p) => rows.iter().filter(|r| p.matches_key(&r.key)).collect(),
        None => rows.iter().collect(),
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub async fn check(
    report: &SeedReport,
    base_url: &str,
    name_search: &str,
) -> Result<ScenarioParams, BoxError> {
    let mut client = Client {
        http: reqwest::Client::new(),
        base: base_url.trim_end_matches('/').to_string(),
        token: report.token.clone(),
        passed: 0,
    };
    let big = &report.tenants[0];
    let rows = model(report, big);
    let all: Vec<&Row> = rows.iter().collect();
    let t = big.id;

    // L1, and the last page through the server's own `last` link.
    let first = client.list(t, "", &all, 1, 15).await?;
    let last_page = all.len().div_ceil(15).max(1);
    client.expect(
        "last_page",
        first["meta"]["last_page"].as_u64() == Some(last_page as u64),
        || format!("{} vs {last_page}", first["meta"]["last_page"]),
    )?;
    if let Some(last_link) = first["links"]["last"].as_str() {
        let body = client.get(t, last_link).await?;
        let got: Vec<i64> = body["data"]
            .as_array()
            .map(|d| d.iter().filter_map(|c| c["id"].as_i64()).collect())
            .unwrap_or_default();
        let want: Vec<i64> = all
            .iter()
            .skip((last_page - 1) * 15)
            .map(|r| r.id)
            .collect();
        client.expect("last page via links.last", got == want, || {
            format!("{got:?} vs {want:?}")
        })?;
    }
    // L2: page 1,000 (or the middle page of a small tenant).
    let deep = if last_page >= 1000 {
        1000
    } else {
        last_page.div_ceil(2)
    };
    client
        .list(t, &format!("page={deep}"), &all, deep, 15)
        .await?;
    // L3: every channel type, with per_page.
    for channel_type in ChannelType::ALL {
        let expected: Vec<&Row> = rows
            .iter()
            .filter(|r| r.channel_type == channel_type)
            .collect();
        client
            .list(
                t,
                &format!("channel_type={}&per_page=50", channel_type.as_str()),
                &expected,
                1,
                50,
            )
            .await?;
    }
    // L4: a name fragment, alone, with a channel type, and its second page.
    let names = matching(&rows, name_search);
    client
        .list(t, &format!("search={}", encode(name_search)), &names, 1, 15)
        .await?;
    if names.len() > 15 {
        client
            .list(
                t,
                &format!("search={}&page=2", encode(name_search)),
                &names,
                2,
                15,
            )
            .await?;
    }
    let named_whatsapp: Vec<&Row> = names
        .iter()
        .copied()
        .filter(|r| r.channel_type == ChannelType::Whatsapp)
        .collect();
    client
        .list(
            t,
            &format!("search={}&channel_type=whatsapp", encode(name_search)),
            &named_whatsapp,
            1,
            15,
        )
        .await?;
    // L5: digits of the most recent WhatsApp number, spelled as people type them.
    let phone = rows
        .iter()
        .find_map(|r| r.phone.clone())
        .ok_or("no WhatsApp conversation was seeded")?;
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let part = &digits[2..digits.len().min(10)];
    let phone_search = format!("{} {} {}", &part[..3], &part[3..6], &part[6..]);
    let phones = matching(&rows, &phone_search);
    client
        .list(
            t,
            &format!("search={}", encode(&phone_search)),
            &phones,
            1,
            15,
        )
        .await?;
    client.expect("phone search finds its number", !phones.is_empty(), || {
        phone_search.clone()
    })?;
    // L6: nothing.
    let none = matching(&rows, MISSING_SEARCH);
    client.expect("the missing name is missing", none.is_empty(), || {
        MISSING_SEARCH.to_string()
    })?;
    client
        .list(t, &format!("search={MISSING_SEARCH}"), &none, 1, 15)
        .await?;
    // A two-letter search (no trigram index), checked on the first page.
    let short = matching(&rows, "ay");
    client.list(t, "search=ay", &short, 1, 15).await?;

    // L7: the top page's conversation with the most messages.
    let top = rows
        .iter()
        .take(15)
        .max_by_key(|r| (r.messages, r.id))
        .ok_or("no conversations")?;
    let body = client
        .get(
            t,
            &format!("/api/v1/conversations/{}/messages?per_page=100", top.id),
        )
        .await?;
    let total = body["meta"]["total"].as_u64().unwrap_or(0) as usize;
    client.expect("message total", total == top.messages, || {
        format!("{total} vs {}", top.messages)
    })?;
    let ids: Vec<i64> = body["data"]
        .as_array()
        .map(|d| d.iter().filter_map(|m| m["id"].as_i64()).collect())
        .unwrap_or_default();
    client.expect(
        "messages newest first",
        ids.windows(2).all(|w| w[0] > w[1]) && ids.len() == total.min(100),
        || format!("{ids:?}"),
    )?;

    // Small tenants: their own totals only, and none of the big tenant's rows.
    for small in &report.tenants[1..] {
        let small_rows = model(report, small);
        let small_all: Vec<&Row> = small_rows.iter().collect();
        client
            .list(small.id, "per_page=100", &small_all, 1, 100)
            .await?;
        let small_names = matching(&small_rows, name_search);
        client
            .list(
                small.id,
                &format!("search={}", encode(name_search)),
                &small_names,
                1,
                15,
            )
            .await?;
    }

    let whatsapp = big
        .channels
        .iter()
        .find(|c| c.channel_type == "whatsapp")
        .ok_or("no WhatsApp channel")?;
    Ok(ScenarioParams {
        tenant: t,
        token: report.token.clone(),
        conversations: rows.len(),
        name_search: name_search.to_string(),
        name_search_matches: names.len(),
        phone_search,
        phone_search_matches: phones.len(),
        missing_search: MISSING_SEARCH.to_string(),
        messages_conversation: top.id,
        messages_in_conversation: top.messages,
        inbound_channel: whatsapp.id,
        inbound_secret: whatsapp.inbound_secret.clone(),
        create_channel: whatsapp.id,
        checks_passed: client.passed,
    })
}
