//! Wall displays as the venue knows them: named devices in groups, what each
//! shows (one view or a rotation, its own or its group's), announcements
//! with an expiry, text slides and the display theme. Pure: the node keeps
//! who is connected right now; this is what staff decided.

use crate::venue::DomainError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use uuid::Uuid;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// A display's id: what its URL carries (`/display/<id>`), kept by the device.
pub fn valid_device_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An uploaded image's name: 32 hex digits of its SHA-256 and its kind.
pub fn valid_media_name(name: &str) -> bool {
    match name.split_once('.') {
        Some((hash, ext)) => {
            hash.len() == 32
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                && matches!(ext, "png" | "jpg" | "webp")
        }
        None => false,
    }
}

/// The short code a new display shows so staff can tell which screen is which.
pub fn device_code(id: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    Sha256::digest(id.as_bytes())
        .iter()
        .take(4)
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

/// What a screen shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "view", rename_all = "snake_case")]
pub enum View {
    /// A tournament's clock; without an id, the tournament running now.
    Clock {
        #[serde(default)]
        tournament: Option<Uuid>,
    },
    /// Who sits where, alphabetical, paged.
    SeatDraw {
        #[serde(default)]
        tournament: Option<Uuid>,
    },
    WaitingLists,
    TableStatus,
    Slides,
    /// Every tournament not yet finished at a glance: level, time, blinds,
    /// players left (a room running a satellite beside a main event).
    Tournaments,
}

impl View {
    pub fn label(&self) -> &'static str {
        match self {
            View::Clock { .. } => "Clock",
            View::SeatDraw { .. } => "Seat draw",
            View::WaitingLists => "Waiting lists",
            View::TableStatus => "Table status",
            View::Slides => "Slides",
            View::Tournaments => "All tournaments",
        }
    }
}

/// One view, or several shown in turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Playlist {
    pub views: Vec<View>,
    /// Seconds per view when there are several (5 to 600).
    #[serde(default = "default_rotate")]
    pub rotate_secs: u32,
}

fn default_rotate() -> u32 {
    20
}

impl Playlist {
    pub fn checked(self) -> Result<Playlist, DomainError> {
        if self.views.is_empty() || self.views.len() > 12 {
            return Err(DomainError::Invalid {
                field: "views",
                reason: "give 1 to 12 views".into(),
            });
        }
        if !(5..=600).contains(&self.rotate_secs) {
            return Err(DomainError::Invalid {
                field: "rotate_secs",
                reason: "rotate every 5 to 600 seconds".into(),
            });
        }
        Ok(self)
    }
}

/// A display staff have named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Device {
    pub id: String,
    pub name: String,
    pub group: Option<String>,
    /// Its own views; None to follow its group's playlist.
    pub playlist: Option<Playlist>,
}

/// A message over every screen (or a group's) until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Announcement {
    pub id: Uuid,
    pub text: String,
    /// None for every screen.
    pub group: Option<String>,
    pub until_ms: u64,
}

/// A text slide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Slide {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    /// An uploaded image shown with (or instead of) the text.
    #[serde(default)]
    pub image: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    #[default]
    Dark,
    /// Pure black and white, for washed-out TVs.
    Contrast,
    Light,
}

/// Everything staff decided about the screens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisplayState {
    pub devices: BTreeMap<String, Device>,
    pub groups: BTreeMap<String, Playlist>,
    pub announcements: BTreeMap<Uuid, Announcement>,
    pub slides: BTreeMap<Uuid, Slide>,
    pub theme: Theme,
    /// The venue's logo on every screen (an uploaded image).
    #[serde(default)]
    pub logo: Option<String>,
}

impl DisplayState {
    /// What a device shows: its own playlist, else its group's, else the clock.
    pub fn playlist_of(&self, device_id: &str) -> Playlist {
        let device = self.devices.get(device_id);
        device
            .and_then(|d| d.playlist.clone())
            .or_else(|| {
                device
                    .and_then(|d| d.group.as_ref())
                    .and_then(|g| self.groups.get(g))
                    .cloned()
            })
            .unwrap_or(Playlist {
                views: vec![View::Clock { tournament: None }],
                rotate_secs: default_rotate(),
            })
    }

    /// The announcements a device shows now.
    pub fn announcements_for(&self, device_id: &str, now_ms: u64) -> Vec<&Announcement> {
        let group = self.devices.get(device_id).and_then(|d| d.group.as_ref());
        self.announcements
            .values()
            .filter(|a| a.until_ms > now_ms)
            .filter(|a| a.group.is_none() || a.group.as_ref() == group)
            .collect()
    }
}

/// What staff do to the screens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DisplayEvent {
    DeviceSaved { device: Device },
    DeviceForgotten { device_id: String },
    GroupSaved { name: String, playlist: Playlist },
    Announced { announcement: Announcement },
    AnnouncementEnded { id: Uuid },
    SlideSaved { slide: Slide },
    SlideRemoved { id: Uuid },
    ThemeSet { theme: Theme },
    LogoSet { image: Option<String> },
}

pub(crate) fn text(field: &'static str, v: &str, max: usize) -> Result<String, DomainError> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(DomainError::Invalid {
            field,
            reason: format!("use 1 to {max} characters, no control characters"),
        });
    }
    Ok(v.to_owned())
}

pub(crate) fn media(name: Option<&str>) -> Result<(), DomainError> {
    match name {
        Some(n) if !valid_media_name(n) => Err(DomainError::Invalid {
            field: "image",
            reason: "not an uploaded image's name".into(),
        }),
        _ => Ok(()),
    }
}

fn group_name(g: Option<String>) -> Result<Option<String>, DomainError> {
    match g.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(g) => text("group", g, 40).map(Some),
    }
}

impl DisplayState {
    /// Checks a change and returns the event that records it.
    pub fn decide(&self, e: DisplayEvent, now_ms: u64) -> Result<DisplayEvent, DomainError> {
        Ok(match e {
            DisplayEvent::DeviceSaved { device } => {
                if !valid_device_id(&device.id) {
                    return Err(DomainError::Invalid {
                        field: "device_id",
                        reason: "1 to 64 letters, digits, - or _".into(),
                    });
                }
                DisplayEvent::DeviceSaved {
                    device: Device {
                        name: text("name", &device.name, 60)?,
                        group: group_name(device.group)?,
                        playlist: device.playlist.map(Playlist::checked).transpose()?,
                        id: device.id,
                    },
                }
            }
            DisplayEvent::DeviceForgotten { device_id } => {
                if !self.devices.contains_key(&device_id) {
                    return Err(DomainError::NotFound(format!("no display {device_id}")));
                }
                DisplayEvent::DeviceForgotten { device_id }
            }
            DisplayEvent::GroupSaved { name, playlist } => DisplayEvent::GroupSaved {
                name: text("group", &name, 40)?,
                playlist: playlist.checked()?,
            },
            DisplayEvent::Announced { announcement: a } => {
                if a.until_ms <= now_ms || a.until_ms > now_ms + 24 * 3_600_000 {
                    return Err(DomainError::Invalid {
                        field: "minutes",
                        reason: "an announcement lasts 1 minute to 24 hours".into(),
                    });
                }
                DisplayEvent::Announced {
                    announcement: Announcement {
                        text: text("text", &a.text, 280)?,
                        group: group_name(a.group)?,
                        ..a
                    },
                }
            }
            DisplayEvent::AnnouncementEnded { id } => {
                if !self.announcements.contains_key(&id) {
                    return Err(DomainError::NotFound(format!("no announcement {id}")));
                }
                DisplayEvent::AnnouncementEnded { id }
            }
            DisplayEvent::SlideSaved { slide } => {
                media(slide.image.as_deref())?;
                DisplayEvent::SlideSaved {
                    slide: Slide {
                        title: text("title", &slide.title, 80)?,
                        body: slide.body.trim().chars().take(1_000).collect(),
                        ..slide
                    },
                }
            }
            DisplayEvent::LogoSet { image } => {
                media(image.as_deref())?;
                DisplayEvent::LogoSet { image }
            }
            DisplayEvent::SlideRemoved { id } => {
                if !self.slides.contains_key(&id) {
                    return Err(DomainError::NotFound(format!("no slide {id}")));
                }
                DisplayEvent::SlideRemoved { id }
            }
            DisplayEvent::ThemeSet { theme } => DisplayEvent::ThemeSet { theme },
        })
    }

    pub fn apply(&mut self, e: &DisplayEvent) {
        match e.clone() {
            DisplayEvent::DeviceSaved { device } => {
                self.devices.insert(device.id.clone(), device);
            }
            DisplayEvent::DeviceForgotten { device_id } => {
                self.devices.remove(&device_id);
            }
            DisplayEvent::GroupSaved { name, playlist } => {
                self.groups.insert(name, playlist);
            }
            DisplayEvent::Announced { announcement } => {
                self.announcements.insert(announcement.id, announcement);
            }
            DisplayEvent::AnnouncementEnded { id } => {
                self.announcements.remove(&id);
            }
            DisplayEvent::SlideSaved { slide } => {
                self.slides.insert(slide.id, slide);
            }
            DisplayEvent::SlideRemoved { id } => {
                self.slides.remove(&id);
            }
            DisplayEvent::ThemeSet { theme } => self.theme = theme,
            DisplayEvent::LogoSet { image } => self.logo = image,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str, group: Option<&str>, playlist: Option<Playlist>) -> Device {
        Device {
            id: id.into(),
            name: format!("TV {id}"),
            group: group.map(str::to_owned),
            playlist,
        }
    }

    #[test]
    fn codes_are_short_stable_and_unambiguous() {
        let c = device_code("lobby-tv-1");
        assert_eq!(c.len(), 4);
        assert_eq!(c, device_code("lobby-tv-1"));
        assert!(!c.contains(['0', 'O', '1', 'I']));
        assert!(valid_device_id("lobby-tv_1"));
        assert!(!valid_device_id("../etc"));
        assert!(!valid_device_id(""));
        assert!(!valid_device_id(&"x".repeat(65)));
    }

    #[test]
    fn a_device_shows_its_own_views_else_its_groups_else_the_clock() {
        let mut s = DisplayState::default();
        let lists = Playlist {
            views: vec![View::WaitingLists],
            rotate_secs: 20,
        };
        s.groups.insert("bar".into(), lists.clone());
        s.devices.insert("a".into(), device("a", Some("bar"), None));
        let own = Playlist {
            views: vec![View::TableStatus, View::Slides],
            rotate_secs: 10,
        };
        s.devices
            .insert("b".into(), device("b", Some("bar"), Some(own.clone())));
        assert_eq!(s.playlist_of("a"), lists);
        assert_eq!(s.playlist_of("b"), own);
        assert_eq!(
            s.playlist_of("new"),
            Playlist {
                views: vec![View::Clock { tournament: None }],
                rotate_secs: 20
            }
        );
    }

    #[test]
    fn announcements_reach_their_group_only_and_expire() {
        let mut s = DisplayState::default();
        s.devices.insert("a".into(), device("a", Some("bar"), None));
        s.devices
            .insert("b".into(), device("b", Some("floor"), None));
        let e = s
            .decide(
                DisplayEvent::Announced {
                    announcement: Announcement {
                        id: Uuid::nil(),
                        text: " Dinner break at 8 ".into(),
                        group: Some("bar".into()),
                        until_ms: 10_000,
                    },
                },
                1_000,
            )
            .expect("announce");
        s.apply(&e);
        assert_eq!(s.announcements_for("a", 2_000).len(), 1);
        assert_eq!(s.announcements_for("a", 2_000)[0].text, "Dinner break at 8");
        assert!(s.announcements_for("b", 2_000).is_empty());
        assert!(s.announcements_for("a", 10_000).is_empty(), "expired");
        let too_long = s.decide(
            DisplayEvent::Announced {
                announcement: Announcement {
                    id: Uuid::nil(),
                    text: "x".into(),
                    group: None,
                    until_ms: 1_000 + 25 * 3_600_000,
                },
            },
            1_000,
        );
        assert!(too_long.is_err());
    }

    #[test]
    fn nonsense_is_refused() {
        let s = DisplayState::default();
        let bad = |d: Device| {
            s.decide(DisplayEvent::DeviceSaved { device: d }, 0)
                .is_err()
        };
        assert!(bad(device("a b", None, None)));
        assert!(bad(Device {
            name: "  ".into(),
            ..device("a", None, None)
        }));
        assert!(bad(device(
            "a",
            None,
            Some(Playlist {
                views: vec![],
                rotate_secs: 20
            })
        )));
        assert!(bad(device(
            "a",
            None,
            Some(Playlist {
                views: vec![View::Slides],
                rotate_secs: 1
            })
        )));
    }
}
