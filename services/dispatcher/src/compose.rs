//! An outbound message, parsed once at the edge into a typed value that
//! Meta would accept (META_API.md §5 limits), or every reason it would not,
//! each naming its field. The send path never meets an unchecked message,
//! and a developer learns all of what is wrong in one answer, before
//! anything is queued or paid for.
//!
//! The request carries Meta's own shape (`type` and the same-named object),
//! so a developer who knows Meta's API knows ours; media may also name our
//! media id instead of Meta's.

use serde::Deserialize;
use serde_json::{Value, json};

/// One reason a message would be refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Where, as a dotted path (`interactive.action.buttons[3]`).
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        problem: problem.into(),
    }
}

/// The kinds of media Meta sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// `image`.
    Image,
    /// `video`.
    Video,
    /// `audio`.
    Audio,
    /// `document`.
    Document,
    /// `sticker`.
    Sticker,
}

impl MediaKind {
    fn parse(kind: &str) -> Option<Self> {
        Some(match kind {
            "image" => Self::Image,
            "video" => Self::Video,
            "audio" => Self::Audio,
            "document" => Self::Document,
            "sticker" => Self::Sticker,
            _ => return None,
        })
    }

    /// Meta's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Document => "document",
            Self::Sticker => "sticker",
        }
    }

    fn takes_caption(self) -> bool {
        matches!(self, Self::Image | Self::Video | Self::Document)
    }
}

/// Where media comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// Our media id (`GET /v1/media/{id}`), uploaded to Meta when sent.
    Ours(String),
    /// Meta's media id.
    Meta(String),
    /// A public https URL Meta fetches.
    Link(String),
}

/// A message to send, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// Free text.
    Text {
        /// ≤ 4,096 characters.
        body: String,
        /// Whether Meta renders a link preview.
        preview_url: bool,
    },
    /// An image, video, audio, document or sticker.
    Media {
        /// Which.
        kind: MediaKind,
        /// From where.
        source: MediaSource,
        /// ≤ 1,024 characters (images, videos, documents).
        caption: Option<String>,
        /// A document's file name.
        filename: Option<String>,
    },
    /// Meta's `location`, `contacts` or `interactive` object, checked
    /// against Meta's limits and sent as given.
    Structured {
        /// `location`, `contacts` or `interactive`.
        kind: &'static str,
        /// The object.
        object: Value,
    },
    /// A reaction to one of the customer's messages (empty emoji removes it).
    Reaction {
        /// The wamid reacted to.
        message_id: String,
        /// One emoji, or empty.
        emoji: String,
    },
    /// A template; its parameters are checked against our synced copy
    /// before queueing (`templates`).
    Template {
        /// Its name.
        name: String,
        /// Its language code (`pt_BR`).
        language: String,
        /// Meta's `components` with the parameters.
        components: Vec<Value>,
    },
}

/// Characters, as Meta counts them (Unicode scalar values).
fn chars(s: &str) -> usize {
    s.chars().count()
}

fn limit(problems: &mut Vec<Invalid>, field: &str, value: &str, max: usize) {
    if chars(value) > max {
        problems.push(invalid(field, format!("at most {max} characters")));
    }
}

fn required(problems: &mut Vec<Invalid>, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        problems.push(invalid(field, "required"));
    } else {
        limit(problems, field, value, max);
    }
}

fn object<T: for<'de> Deserialize<'de>>(kind: &str, value: &Value) -> Result<T, Vec<Invalid>> {
    serde_json::from_value(value.clone()).map_err(|e| vec![invalid(kind, e.to_string())])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextObject {
    body: String,
    #[serde(default)]
    preview_url: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MediaObject {
    media_id: Option<String>,
    id: Option<String>,
    link: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReactionObject {
    message_id: String,
    #[serde(default)]
    emoji: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateObject {
    name: String,
    language: Language,
    #[serde(default)]
    components: Vec<Value>,
}

#[derive(Deserialize)]
struct Language {
    code: String,
}

impl Outgoing {
    /// Parses Meta's `type` and its same-named `object`.
    pub fn parse(kind: &str, object_value: &Value) -> Result<Self, Vec<Invalid>> {
        let mut problems = Vec::new();
        let parsed = match kind {
            "text" => {
                let t: TextObject = object(kind, object_value)?;
                required(&mut problems, "text.body", &t.body, 4_096);
                Self::Text {
                    body: t.body,
                    preview_url: t.preview_url,
                }
            }
            "image" | "video" | "audio" | "document" | "sticker" => {
                let media_kind = MediaKind::parse(kind).expect("matched above");
                let m: MediaObject = object(kind, object_value)?;
                let source = media_source(kind, &m, &mut problems);
                if let Some(caption) = &m.caption {
                    if media_kind.takes_caption() {
                        limit(&mut problems, &format!("{kind}.caption"), caption, 1_024);
                    } else {
                        problems.push(invalid(
                            format!("{kind}.caption"),
                            "not allowed on this type",
                        ));
                    }
                }
                if m.filename.is_some() && media_kind != MediaKind::Document {
                    problems.push(invalid(
                        format!("{kind}.filename"),
                        "only documents have one",
                    ));
                }
                Self::Media {
                    kind: media_kind,
                    source: source.unwrap_or(MediaSource::Meta(String::new())),
                    caption: m.caption,
                    filename: m.filename,
                }
            }
            "location" => {
                check_location(object_value, &mut problems);
                Self::Structured {
                    kind: "location",
                    object: object_value.clone(),
                }
            }
            "contacts" => {
                check_contacts(object_value, &mut problems);
                Self::Structured {
                    kind: "contacts",
                    object: object_value.clone(),
                }
            }
            "interactive" => {
                crate::compose_interactive::check(object_value, &mut problems);
                Self::Structured {
                    kind: "interactive",
                    object: object_value.clone(),
                }
            }
            "reaction" => {
                let r: ReactionObject = object(kind, object_value)?;
                required(&mut problems, "reaction.message_id", &r.message_id, 128);
                if chars(&r.emoji) > 8 {
                    problems.push(invalid("reaction.emoji", "one emoji, or empty to remove"));
                }
                Self::Reaction {
                    message_id: r.message_id,
                    emoji: r.emoji,
                }
            }
            "template" => {
                let t: TemplateObject = object(kind, object_value)?;
                required(&mut problems, "template.name", &t.name, 512);
                if !language_code(&t.language.code) {
                    problems.push(invalid(
                        "template.language.code",
                        "a code such as en_US or pt_BR",
                    ));
                }
                for (i, c) in t.components.iter().enumerate() {
                    if !c["type"].is_string() {
                        problems.push(invalid(
                            format!("template.components[{i}].type"),
                            "required",
                        ));
                    }
                }
                Self::Template {
                    name: t.name,
                    language: t.language.code,
                    components: t.components,
                }
            }
            other => {
                return Err(vec![invalid(
                    "type",
                    format!(
                        "{other:?} is not one of text, image, video, audio, document, sticker, location, contacts, interactive, reaction, template"
                    ),
                )]);
            }
        };
        if problems.is_empty() {
            Ok(parsed)
        } else {
            Err(problems)
        }
    }

    /// Meta's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Media { kind, .. } => kind.as_str(),
            Self::Structured { kind, .. } => kind,
            Self::Reaction { .. } => "reaction",
            Self::Template { .. } => "template",
        }
    }

    /// Whether it may only go inside the 24-hour customer service window
    /// (everything but templates, §8).
    pub fn needs_open_window(&self) -> bool {
        !matches!(self, Self::Template { .. })
    }

    /// Meta's request body to `to`, quoting `context` if given; `meta_media`
    /// is Meta's id for our media (looked up or uploaded by the sender).
    pub fn meta_body(&self, to: &str, context: Option<&str>, meta_media: Option<&str>) -> Value {
        let object = match self {
            Self::Text { body, preview_url } => json!({"body": body, "preview_url": preview_url}),
            Self::Media {
                source,
                caption,
                filename,
                ..
            } => {
                let mut o = match source {
                    MediaSource::Link(link) => json!({"link": link}),
                    MediaSource::Meta(id) => json!({"id": id}),
                    MediaSource::Ours(_) => json!({"id": meta_media.unwrap_or_default()}),
                };
                if let Some(c) = caption {
                    o["caption"] = json!(c);
                }
                if let Some(f) = filename {
                    o["filename"] = json!(f);
                }
                o
            }
            Self::Structured { object, .. } => object.clone(),
            Self::Reaction { message_id, emoji } => {
                json!({"message_id": message_id, "emoji": emoji})
            }
            Self::Template {
                name,
                language,
                components,
            } => {
                json!({"name": name, "language": {"code": language, "policy": "deterministic"}, "components": components})
            }
        };
        let kind = self.kind();
        let mut body = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": kind});
        body[kind] = object;
        if let Some(id) = context {
            body["context"] = json!({"message_id": id});
        }
        body
    }
}

fn media_source(kind: &str, m: &MediaObject, problems: &mut Vec<Invalid>) -> Option<MediaSource> {
    let given = [&m.media_id, &m.id, &m.link]
        .iter()
        .filter(|v| v.is_some())
        .count();
    if given != 1 {
        problems.push(invalid(
            kind,
            "exactly one of media_id (ours), id (Meta's) or link",
        ));
        return None;
    }
    if let Some(link) = &m.link {
        let ok = url::Url::parse(link)
            .map(|u| u.scheme() == "https" && u.host().is_some())
            .unwrap_or(false);
        if !ok {
            problems.push(invalid(format!("{kind}.link"), "an https URL"));
        }
        return Some(MediaSource::Link(link.clone()));
    }
    if let Some(id) = &m.media_id {
        if uuid::Uuid::parse_str(id).is_err() {
            problems.push(invalid(format!("{kind}.media_id"), "one of our media ids"));
        }
        return Some(MediaSource::Ours(id.clone()));
    }
    let id = m.id.clone().unwrap_or_default();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        problems.push(invalid(format!("{kind}.id"), "Meta's numeric media id"));
    }
    Some(MediaSource::Meta(id))
}

/// Whether `code` is a language code Meta takes (`en`, `en_US`, `pt_BR`).
pub fn language_code(code: &str) -> bool {
    let mut parts = code.split('_');
    let lang = parts.next().unwrap_or_default();
    let region = parts.next();
    parts.next().is_none()
        && (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| {
            (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

fn coordinate(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn check_location(o: &Value, problems: &mut Vec<Invalid>) {
    for (field, max) in [("latitude", 90.0), ("longitude", 180.0)] {
        match coordinate(&o[field]) {
            Some(x) if x.abs() <= max => {}
            _ => problems.push(invalid(
                format!("location.{field}"),
                format!("a number between -{max} and {max}"),
            )),
        }
    }
    for field in ["name", "address"] {
        if let Some(s) = o[field].as_str() {
            limit(problems, &format!("location.{field}"), s, 1_000);
        }
    }
}

fn check_contacts(o: &Value, problems: &mut Vec<Invalid>) {
    let Some(cards) = o.as_array().filter(|a| !a.is_empty()) else {
        problems.push(invalid("contacts", "a non-empty array of contact cards"));
        return;
    };
    for (i, card) in cards.iter().enumerate() {
        if card["name"]["formatted_name"]
            .as_str()
            .is_none_or(|s| s.trim().is_empty())
        {
            problems.push(invalid(
                format!("contacts[{i}].name.formatted_name"),
                "required",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(kind: &str, o: Value) -> Vec<String> {
        Outgoing::parse(kind, &o)
            .unwrap_err()
            .into_iter()
            .map(|p| format!("{}: {}", p.field, p.problem))
            .collect()
    }

    #[test]
    fn text_is_limited_to_4096_characters_counted_as_meta_counts_them() {
        let at_limit = "é".repeat(4_096);
        assert!(Outgoing::parse("text", &json!({"body": at_limit})).is_ok());
        let over = "é".repeat(4_097);
        assert_eq!(
            problems("text", json!({"body": over})),
            ["text.body: at most 4096 characters"]
        );
        assert_eq!(
            problems("text", json!({"body": "  "})),
            ["text.body: required"]
        );
        assert!(
            problems("text", json!({"body": "x", "bold": true}))[0]
                .contains("unknown field `bold`")
        );
    }

    #[test]
    fn media_names_exactly_one_source_and_captions_only_where_meta_shows_them() {
        let ours = uuid::Uuid::now_v7().to_string();
        let image =
            Outgoing::parse("image", &json!({"media_id": ours, "caption": "a foto"})).unwrap();
        assert_eq!(
            image.meta_body("5511988887777", None, Some("1780000000000001"))["image"],
            json!({"id": "1780000000000001", "caption": "a foto"})
        );
        assert_eq!(
            problems("image", json!({"id": "1", "link": "https://ex.co/a.png"})),
            ["image: exactly one of media_id (ours), id (Meta's) or link"]
        );
        assert_eq!(
            problems("document", json!({"link": "http://ex.co/a.pdf"})),
            ["document.link: an https URL"]
        );
        assert_eq!(
            problems("audio", json!({"id": "12", "caption": "x"})),
            ["audio.caption: not allowed on this type"]
        );
        assert_eq!(
            problems("image", json!({"id": "12", "filename": "a.png"})),
            ["image.filename: only documents have one"]
        );
        assert_eq!(
            problems("video", json!({"media_id": "nope"})),
            ["video.media_id: one of our media ids"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let all = problems("location", json!({"latitude": 91, "longitude": "x"}));
        assert_eq!(all.len(), 2, "{all:?}");
    }

    #[test]
    fn templates_need_a_name_and_a_language_code_and_are_the_only_type_outside_the_window() {
        let t = Outgoing::parse("template", &json!({"name": "order_shipped", "language": {"code": "pt_BR"}, "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]})).unwrap();
        assert!(!t.needs_open_window());
        assert_eq!(
            t.meta_body("5511988887777", None, None)["template"]["language"],
            json!({"code": "pt_BR", "policy": "deterministic"})
        );
        assert_eq!(
            problems(
                "template",
                json!({"name": "x", "language": {"code": "portuguese"}})
            ),
            ["template.language.code: a code such as en_US or pt_BR"]
        );
        assert!(
            Outgoing::parse("text", &json!({"body": "oi"}))
                .unwrap()
                .needs_open_window()
        );
    }

    #[test]
    fn a_reply_quotes_its_message_and_an_unknown_type_is_named() {
        let body = Outgoing::parse("reaction", &json!({"message_id": "wamid.X", "emoji": "👍"}))
            .unwrap()
            .meta_body("5511988887777", Some("wamid.Y"), None);
        assert_eq!(body["context"], json!({"message_id": "wamid.Y"}));
        assert_eq!(body["type"], "reaction");
        assert!(problems("poll", json!({}))[0].starts_with("type: \"poll\" is not one of"));
    }
}
