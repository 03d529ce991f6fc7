//! Laravel's paginated resource shape: `links`, `meta` and `meta.links` with the
//! UrlWindow of three pages on each side. Unlike Laravel's default, the list's
//! filters are repeated in every link, so following `next` stays in the same list.

use super::json_writer::{JsonWriter, WriteJson};
use serde::Serialize;
use switchboard_core::PageRequest;
use utoipa::ToSchema;

const ON_EACH_SIDE: i64 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PageLinks {
    pub first: String,
    pub last: String,
    pub prev: Option<String>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MetaLink {
    pub url: Option<String>,
    pub label: String,
    /// Absent on the `...` separator; null on Previous/Next when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub page: Option<Option<i64>>,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PageMeta {
    pub current_page: i64,
    pub from: Option<i64>,
    pub last_page: i64,
    pub links: Vec<MetaLink>,
    pub path: String,
    pub per_page: i64,
    pub to: Option<i64>,
    pub total: i64,
}

impl WriteJson for PageLinks {
    fn write_json(&self, w: &mut JsonWriter) {
        w.raw("{\"first\":")
            .str(&self.first)
            .raw(",\"last\":")
            .str(&self.last)
            .raw(",\"prev\":")
            .opt_str(self.prev.as_deref())
            .raw(",\"next\":")
            .opt_str(self.next.as_deref())
            .raw("}");
    }
}

impl WriteJson for MetaLink {
    fn write_json(&self, w: &mut JsonWriter) {
        w.raw("{\"url\":")
            .opt_str(self.url.as_deref())
            .raw(",\"label\":")
            .str(&self.label);
        if let Some(page) = self.page {
            w.raw(",\"page\":").opt_int(page);
        }
        w.raw(",\"active\":").bool(self.active).raw("}");
    }
}

impl WriteJson for PageMeta {
    fn write_json(&self, w: &mut JsonWriter) {
        w.raw("{\"current_page\":")
            .int(self.current_page)
            .raw(",\"from\":")
            .opt_int(self.from)
            .raw(",\"last_page\":")
            .int(self.last_page)
            .raw(",\"links\":")
            .array(&self.links)
            .raw(",\"path\":")
            .str(&self.path)
            .raw(",\"per_page\":")
            .int(self.per_page)
            .raw(",\"to\":")
            .opt_int(self.to)
            .raw(",\"total\":")
            .int(self.total)
            .raw("}");
    }
}

/// Builds `links` and `meta` for one page.
pub struct Paginator<'a> {
    /// Absolute URL of the list, without query.
    pub path: &'a str,
    /// Query parameters every link repeats, before `page`.
    pub kept_query: &'a [(&'a str, String)],
    pub page: PageRequest,
    pub total: i64,
    pub count: usize,
}

impl Paginator<'_> {
    pub fn last_page(&self) -> i64 {
        let pages =
            self.total / self.page.per_page + i64::from(self.total % self.page.per_page != 0);
        pages.max(1)
    }

    pub fn url(&self, page: i64) -> String {
        self.urls().of(page)
    }

    /// The page's URLs, the query that every one of them keeps encoded once: a page's
    /// links and meta hold some twenty of them.
    fn urls(&self) -> PageUrls {
        let path = format!("{}?", self.path);
        let mut query = form_urlencoded::Serializer::for_suffix(path, self.path.len() + 1);
        for (key, value) in self.kept_query {
            query.append_pair(key, value);
        }
        let mut prefix = query.finish();
        if !self.kept_query.is_empty() {
            prefix.push('&');
        }
        prefix.push_str("page=");
        PageUrls { prefix }
    }

    pub fn links(&self) -> PageLinks {
        let current = self.page.page;
        let last = self.last_page();
        let urls = self.urls();
        PageLinks {
            first: urls.of(1),
            last: urls.of(last),
            prev: (current > 1).then(|| urls.of(current - 1)),
            next: (current < last).then(|| urls.of(current + 1)),
        }
    }

    pub fn meta(&self) -> PageMeta {
        let urls = self.urls();
        let current = self.page.page;
        let last = self.last_page();
        let first_index = (current - 1)
            .saturating_mul(self.page.per_page)
            .saturating_add(1);
        let (from, to) = if self.count == 0 {
            (None, None)
        } else {
            (Some(first_index), Some(first_index + self.count as i64 - 1))
        };
        let mut links = vec![MetaLink {
            url: (current > 1).then(|| urls.of(current - 1)),
            label: "&laquo; Previous".to_string(),
            page: Some((current > 1).then(|| current - 1)),
            active: false,
        }];
        for element in window(current, last) {
            links.push(match element {
                Element::Page(n) => MetaLink {
                    url: Some(urls.of(n)),
                    label: super::resources::digits(n),
                    page: Some(Some(n)),
                    active: n == current,
                },
                Element::Gap => MetaLink {
                    url: None,
                    label: "...".to_string(),
                    page: None,
                    active: false,
                },
            });
        }
        links.push(MetaLink {
            url: (current < last).then(|| urls.of(current + 1)),
            label: "Next &raquo;".to_string(),
            page: Some((current < last).then(|| current + 1)),
            active: false,
        });
        PageMeta {
            current_page: current,
            from,
            last_page: last,
            links,
            path: self.path.to_string(),
            per_page: self.page.per_page,
            to,
            total: self.total,
        }
    }
}

/// `path?kept&page=`, to which a page number is appended.
struct PageUrls {
    prefix: String,
}

impl PageUrls {
    fn of(&self, page: i64) -> String {
        let mut url = String::with_capacity(self.prefix.len() + 20);
        url.push_str(&self.prefix);
        url.push_str(itoa::Buffer::new().format(page));
        url
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    Page(i64),
    Gap,
}

/// Laravel's UrlWindow: all pages when there are fewer than 14; otherwise the first
/// ten, the last ten, or the current page with three on each side, framed by the
/// first two and last two pages.
fn window(current: i64, last: i64) -> Vec<Element> {
    let range = |a: i64, b: i64| (a..=b).map(Element::Page).collect::<Vec<_>>();
    if last < ON_EACH_SIDE * 2 + 8 {
        return range(1, last);
    }
    let window = ON_EACH_SIDE + 4;
    let mut out;
    if current <= window {
        out = range(1, window + ON_EACH_SIDE);
        out.push(Element::Gap);
        out.extend(range(last - 1, last));
    } else if current > last - window {
        out = range(1, 2);
        out.push(Element::Gap);
        out.extend(range(last - (window + ON_EACH_SIDE - 1), last));
    } else {
        out = range(1, 2);
        out.push(Element::Gap);
        out.extend(range(current - ON_EACH_SIDE, current + ON_EACH_SIDE));
        out.push(Element::Gap);
        out.extend(range(last - 1, last));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(current: i64, last: i64) -> String {
        window(current, last)
            .into_iter()
            .map(|e| match e {
                Element::Page(n) => n.to_string(),
                Element::Gap => "...".into(),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn small_lists_show_every_page() {
        assert_eq!(labels(1, 1), "1");
        assert_eq!(labels(5, 13), "1,2,3,4,5,6,7,8,9,10,11,12,13");
    }

    #[test]
    fn window_near_start_middle_and_end() {
        assert_eq!(labels(1, 14), "1,2,3,4,5,6,7,8,9,10,...,13,14");
        assert_eq!(labels(7, 20), "1,2,3,4,5,6,7,8,9,10,...,19,20");
        assert_eq!(labels(8, 20), "1,2,...,5,6,7,8,9,10,11,...,19,20");
        assert_eq!(labels(13, 20), "1,2,...,10,11,12,13,14,15,16,...,19,20");
        assert_eq!(labels(14, 20), "1,2,...,11,12,13,14,15,16,17,18,19,20");
        assert_eq!(labels(20, 20), "1,2,...,11,12,13,14,15,16,17,18,19,20");
        assert_eq!(labels(99, 20), "1,2,...,11,12,13,14,15,16,17,18,19,20");
    }

    #[test]
    fn links_without_filters_name_the_page_alone() {
        let p = Paginator {
            path: "http://h/api/v1/conversations",
            kept_query: &[],
            page: PageRequest {
                page: 1,
                per_page: 15,
            },
            total: 31,
            count: 15,
        };
        let links = p.links();
        assert_eq!(links.first, "http://h/api/v1/conversations?page=1");
        assert_eq!(
            links.next.as_deref(),
            Some("http://h/api/v1/conversations?page=2")
        );
        assert_eq!(links.last, "http://h/api/v1/conversations?page=3");
        assert_eq!(p.url(12), "http://h/api/v1/conversations?page=12");
        let urls: Vec<_> = p.meta().links.into_iter().map(|l| l.url).collect();
        assert_eq!(urls[0], None);
        assert_eq!(
            urls[1].as_deref(),
            Some("http://h/api/v1/conversations?page=1")
        );
    }

    #[test]
    fn links_keep_filters_and_page_last() {
        let kept = [
            ("per_page", "2".to_string()),
            ("search", "ayşe yılmaz".to_string()),
        ];
        let p = Paginator {
            path: "http://h/api/v1/conversations",
            kept_query: &kept,
            page: PageRequest {
                page: 2,
                per_page: 2,
            },
            total: 5,
            count: 2,
        };
        let links = p.links();
        assert_eq!(
            links.first,
            "http://h/api/v1/conversations?per_page=2&search=ay%C5%9Fe+y%C4%B1lmaz&page=1"
        );
        assert_eq!(
            links.last,
            "http://h/api/v1/conversations?per_page=2&search=ay%C5%9Fe+y%C4%B1lmaz&page=3"
        );
        assert!(links.prev.unwrap().ends_with("page=1"));
        assert!(links.next.unwrap().ends_with("page=3"));
        let meta = p.meta();
        assert_eq!((meta.from, meta.to, meta.last_page), (Some(3), Some(4), 3));
        assert_eq!(meta.links.len(), 5);
        assert_eq!(meta.links[0].page, Some(Some(1)));
        assert!(meta.links[2].active);
    }

    #[test]
    fn empty_and_past_the_end_pages() {
        let empty = Paginator {
            path: "p",
            kept_query: &[],
            page: PageRequest {
                page: 1,
                per_page: 15,
            },
            total: 0,
            count: 0,
        };
        let meta = empty.meta();
        assert_eq!(
            (meta.from, meta.to, meta.last_page, meta.total),
            (None, None, 1, 0)
        );
        assert_eq!(empty.links().next, None);
        assert_eq!(empty.links().prev, None);
        let past = Paginator {
            path: "p",
            kept_query: &[],
            page: PageRequest {
                page: 9,
                per_page: 15,
            },
            total: 30,
            count: 0,
        };
        assert_eq!(past.links().next, None);
        assert_eq!(past.links().prev.as_deref(), Some("p?page=8"));
        assert_eq!(past.meta().current_page, 9);
        assert_eq!(past.meta().from, None);
    }

    #[test]
    fn exact_multiple_of_per_page() {
        let p = Paginator {
            path: "p",
            kept_query: &[],
            page: PageRequest {
                page: 2,
                per_page: 5,
            },
            total: 10,
            count: 5,
        };
        assert_eq!(p.last_page(), 2);
        assert_eq!(p.links().next, None);
        assert_eq!((p.meta().from, p.meta().to), (Some(6), Some(10)));
    }
}
