//! `--image`: URLs go to the server as they are, files are read and sent inline with the
//! MIME type their extension names. A file the CLI cannot name a type for, or one too large
//! to send inline, is refused naming the file, before anything is sent.

use crate::request::usage;
use llm_core_host::types::*;
use std::path::Path;

/// Inline image bytes a request may carry (the WIT's cap, `message.parts`): a larger file is
/// refused here, before it is read into memory.
const MAX_INLINE_BYTES: u64 = 4 << 20;

/// Adds the images to the last user message's parts.
pub fn attach(messages: &mut [Message], images: &[String]) -> Result<(), Error> {
    if images.is_empty() {
        return Ok(());
    }
    let parts = images
        .iter()
        .map(|i| part(i))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(last_user) = messages.iter_mut().rev().find(|m| m.role == Role::User) else {
        return Err(usage(
            "--image goes with the last user message, and there is none: pass a prompt",
        ));
    };
    last_user.parts.extend(parts);
    Ok(())
}

/// One `--image` value as a content part.
pub fn part(value: &str) -> Result<ContentPart, Error> {
    let lower = value.to_ascii_lowercase();
    if ["http://", "https://", "data:"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return Ok(ContentPart::ImageUrl(value.to_string()));
    }
    let path = Path::new(value);
    let mime_type = mime_type(path).ok_or_else(|| {
        usage(format!(
            "--image {value}: not an image file llm-core knows (.png, .jpg, .jpeg, .gif or .webp), nor an http(s):// or data: URL"
        ))
    })?;
    let cannot_read = |e: std::io::Error| usage(format!("--image {value}: cannot read it: {e}"));
    let size = std::fs::metadata(path).map_err(cannot_read)?.len();
    if size > MAX_INLINE_BYTES {
        return Err(usage(format!(
            "--image {value}: {size} bytes; at most {MAX_INLINE_BYTES} (4 MiB) of images can be sent inline: pass a large image by URL"
        )));
    }
    let bytes = std::fs::read(path).map_err(cannot_read)?;
    Ok(ContentPart::Image(ImageData {
        mime_type: mime_type.to_string(),
        bytes,
    }))
}

/// The MIME type of an image file by its extension (any case).
fn mime_type(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pass_and_files_are_typed_by_extension() {
        for url in [
            "https://example.com/cat.png",
            "HTTP://x/y",
            "data:image/png;base64,iVBORw==",
        ] {
            assert_eq!(part(url).unwrap(), ContentPart::ImageUrl(url.into()));
        }
        assert_eq!(mime_type(Path::new("a/b.JPG")), Some("image/jpeg"));
        assert_eq!(mime_type(Path::new("b.webp")), Some("image/webp"));
        assert_eq!(mime_type(Path::new("b.bmp")), None);
        assert_eq!(mime_type(Path::new("png")), None);
        let e = part("notes.txt").unwrap_err();
        assert!(
            e.message.starts_with("--image notes.txt: "),
            "{}",
            e.message
        );
        let e = part("/no/such/cat.png").unwrap_err();
        assert!(e.message.contains("cannot read it"), "{}", e.message);
    }

    #[test]
    fn images_join_the_last_user_message() {
        let mut messages = vec![
            Message::user("first"),
            Message::new(Role::Assistant, "ok"),
            Message::user("second"),
            Message::system("late"),
        ];
        attach(&mut messages, &["https://x/a.png".into()]).unwrap();
        assert!(messages[0].parts.is_empty());
        assert_eq!(messages[2].parts.len(), 1);
        let mut none = vec![Message::system("s")];
        assert!(attach(&mut none, &["https://x/a.png".into()]).is_err());
    }
}
