//! Which JSON patch paths are image references: a container's `image` and an image volume's
//! `image.reference`, the two fields the bundled policy rewrites, and whose they are.

/// The lists of a pod spec whose containers hold an `image`.
const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// An image reference's place in an object, read from a JSON pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImagePath<'a> {
    /// The pointer of the container or volume holding it.
    item: &'a str,
    volume: bool,
}

impl<'a> ImagePath<'a> {
    /// `…/<container list>/N/image` or `…/volumes/N/image/reference`; `None` for any other path.
    pub fn parse(pointer: &'a str) -> Option<Self> {
        let (item, volume) = match pointer.strip_suffix("/image/reference") {
            Some(item) => (item, true),
            None => (pointer.strip_suffix("/image")?, false),
        };
        let (list, index) = item.rsplit_once('/')?;
        let list = list.rsplit('/').next()?;
        let listed = if volume {
            list == "volumes"
        } else {
            CONTAINER_LISTS.contains(&list)
        };
        (listed && !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
            .then_some(Self { item, volume })
    }

    /// The pointer of the holder's `name`.
    pub fn name_pointer(&self) -> String {
        format!("{}/name", self.item)
    }

    /// How the holder is named in the originals annotation and in `scan`: the container's name,
    /// `volume:NAME` for an image volume.
    pub fn label(&self, name: &str) -> String {
        if self.volume {
            format!("volume:{name}")
        } else {
            name.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ImagePath;

    #[test]
    fn containers_and_image_volumes_and_nothing_else() {
        let cases = [
            (
                "/spec/containers/0/image",
                Some(("/spec/containers/0/name", "c")),
            ),
            (
                "/spec/template/spec/initContainers/12/image",
                Some(("/spec/template/spec/initContainers/12/name", "c")),
            ),
            (
                "/spec/ephemeralContainers/1/image",
                Some(("/spec/ephemeralContainers/1/name", "c")),
            ),
            (
                "/spec/volumes/2/image/reference",
                Some(("/spec/volumes/2/name", "volume:c")),
            ),
            (
                "/spec/jobTemplate/spec/template/spec/volumes/0/image/reference",
                Some((
                    "/spec/jobTemplate/spec/template/spec/volumes/0/name",
                    "volume:c",
                )),
            ),
            ("/spec/volumes/2/image", None),
            ("/spec/containers/0/image/reference", None),
            ("/metadata/labels/image", None),
            ("/spec/containers/x/image", None),
            ("/spec/containers//image", None),
            ("/image", None),
        ];
        for (pointer, want) in cases {
            let got = ImagePath::parse(pointer).map(|p| (p.name_pointer(), p.label("c")));
            assert_eq!(
                got,
                want.map(|(name, label)| (name.to_owned(), label.to_owned())),
                "{pointer}"
            );
        }
    }
}
