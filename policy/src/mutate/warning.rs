//! The warnings of an admission: each says which container (or image volume) and why before
//! it quotes the image, and fits the API server's limit, so nothing a user needs is cut off.
//!
//! kube-apiserver cuts a warning past 256 runes once an answer's warnings pass 4096 runes in all
//! (`truncateItemRunes` and `truncateAtTotalRunes` of `k8s.io/apiserver`
//! `pkg/endpoints/filters/warning.go`, v0.37.2); other webhooks' warnings count towards those
//! 4096, so every warning is kept within 256 runes whatever the total.

/// Longest warning, in characters (runes): the API server's `truncateItemRunes`.
pub const MAX_WARNING_CHARS: usize = 256;

/// At most this many warnings per admission: the API server drops warnings past 4096
/// characters in all (other webhooks' included), so the rest are summarised in the last one.
pub const MAX_WARNINGS: usize = 4;

/// A container or volume name is a DNS label, at most 63 characters, once the API server has
/// validated it; a mutating webhook sees the object before that, so a longer one is shortened.
const MAX_NAME_CHARS: usize = 63;

/// What is left for the image however long the reason: enough for a registry and a tag.
const MIN_IMAGE_CHARS: usize = 48;

/// What holds the image reference a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    Container,
    Volume,
}

impl Holder {
    fn noun(self) -> &'static str {
        match self {
            Holder::Container => "container",
            Holder::Volume => "volume",
        }
    }
}

/// `pullthrough: container "app" left unchanged: <reason>; image "<image>"`, within
/// [`MAX_WARNING_CHARS`]: the name is shortened past a DNS label's length, the reason cut at its
/// end if it would leave the image less than [`MIN_IMAGE_CHARS`] (or what it needs, if less), and the image shortened in its
/// middle (its registry and its tag or digest are what tell images apart) to fit what is left.
pub(crate) fn left_unchanged(holder: Holder, name: &str, reason: &str, image: &str) -> String {
    let head = format!(
        "pullthrough: {} {} left unchanged: ",
        holder.noun(),
        quoted(name, MAX_NAME_CHARS + 2, shorten_middle)
    );
    const IMAGE: &str = "; image ";
    let fixed = chars(&head) + IMAGE.len();
    // The image's room is kept only as far as the image needs it: what fits whole stays whole.
    let image_need = chars(&format!("{image:?}")).min(MIN_IMAGE_CHARS);
    let reason_room = MAX_WARNING_CHARS.saturating_sub(fixed + image_need);
    let reason = shorten_end(reason, reason_room);
    let image_room = MAX_WARNING_CHARS.saturating_sub(fixed + chars(&reason));
    let image = quoted(image, image_room, shorten_middle);
    format!("{head}{reason}{IMAGE}{image}")
}

/// At most `room` warnings: past that, the last one counts the rest.
pub(crate) fn summarised(mut warnings: Vec<String>, room: usize) -> Vec<String> {
    if warnings.len() > room {
        let rest = warnings.len() - (room - 1);
        warnings.truncate(room - 1);
        warnings.push(format!(
            "pullthrough: {rest} more images left unchanged (not valid references)"
        ));
    }
    warnings
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// `text` as a quoted, escaped string of at most `room` characters, shortened by `shorten`
/// first when it is longer (escapes can lengthen it, so the room is found by trying).
fn quoted(text: &str, room: usize, shorten: fn(&str, usize) -> String) -> String {
    let mut budget = room.saturating_sub(2);
    loop {
        let quoted = format!("{:?}", shorten(text, budget));
        let over = chars(&quoted).saturating_sub(room);
        if over == 0 || budget == 0 {
            return quoted;
        }
        budget = budget.saturating_sub(over);
    }
}

/// `text`, or its start and its end around `…`, in at most `room` characters.
fn shorten_middle(text: &str, room: usize) -> String {
    let count = chars(text);
    if count <= room {
        return text.to_owned();
    }
    let kept = room.saturating_sub(1);
    let start = kept.div_ceil(2);
    let end = kept - start;
    let head: String = text.chars().take(start).collect();
    let tail: String = text.chars().skip(count - end).collect();
    format!("{head}…{tail}")
}

/// `text`, or its start followed by `…`, in at most `room` characters.
fn shorten_end(text: &str, room: usize) -> String {
    if chars(text) <= room {
        return text.to_owned();
    }
    let head: String = text.chars().take(room.saturating_sub(1)).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests;
