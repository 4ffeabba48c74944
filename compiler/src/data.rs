//! `sam3c check --data`: the datasets a spec names, checked before any GPU time. Annotation files are read
//! through the `SourceDb` (the compiler itself does no IO); problems inside a JSON file point into that file.

use crate::checks::{StageInfo, StageKind};
use crate::db::{FileId, Files, SourceDb};
use crate::diag::{Code, Diagnostic};
use crate::value::{ComponentValue, Val, Value};
use sam3c_formats::coco::{CocoAnnotation, CocoDataset, Segmentation};
use sam3c_formats::json_span::{locate, PathSeg};
use sam3c_formats::ytvis::YtvisDataset;
use sam3c_formats::FormatError;
use sam3c_lang::ast::Span;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The negative-image share the factory guide recommends, and the class balance and size.
const NEGATIVES: (f64, f64) = (0.10, 0.20);
const MAX_IMBALANCE: f64 = 2.0;
const MIN_PER_CLASS: usize = 100;
/// How many names a message lists before "and N more".
const LIST: usize = 5;

enum Loaded {
    Coco(FileId, CocoDataset),
    Ytvis(FileId, YtvisDataset),
}

struct DataChecker<'a> {
    db: &'a dyn SourceDb,
    files: &'a mut Files,
    diags: Vec<Diagnostic>,
    /// Annotation files already read (None: they failed, and that was reported).
    loaded: HashMap<PathBuf, Option<Loaded>>,
    /// Datasets already checked, by annotation path and role.
    checked: HashSet<(PathBuf, bool)>,
}

/// Check every dataset of every stage; returns the diagnostics.
pub fn check_data(db: &dyn SourceDb, files: &mut Files, stages: &[StageInfo]) -> Vec<Diagnostic> {
    let mut dc = DataChecker {
        db,
        files,
        diags: Vec::new(),
        loaded: HashMap::new(),
        checked: HashSet::new(),
    };
    for s in stages {
        let model = s.value.get("model").and_then(|m| m.component());
        if let Some(weights) = model.and_then(|m| m.get("weights")) {
            dc.weights(weights);
        }
        if let Some(data) = s.value.get("data") {
            dc.dataset(data, true);
        }
        for m in s.value.list("eval") {
            if let Some(d) = m.component().and_then(|c| c.get("data")) {
                dc.dataset(d, false);
            }
        }
    }
    // Categories a stage trains on that the stage it starts from never saw.
    for s in stages.iter().filter(|s| s.kind == StageKind::Train) {
        let Some(from) = s
            .init_from
            .and_then(|d| stages.iter().find(|o| o.decl == d))
        else {
            continue;
        };
        let (Some(a), Some(b)) = (from.value.get("data"), s.value.get("data")) else {
            continue;
        };
        let (Some(ca), Some(cb)) = (dc.categories(a), dc.categories(b)) else {
            continue;
        };
        let unseen: Vec<&String> = cb.difference(&ca).collect();
        if !unseen.is_empty() {
            dc.diags.push(
                Diagnostic::new(
                    Code::W0610,
                    format!("`{}` trains on {} categor{} that `{}` never saw", s.name, unseen.len(), if unseen.len() == 1 { "y" } else { "ies" }, from.name),
                )
                .primary(b.file, b.span, format!("has {}", listing(unseen.iter().map(|s| s.as_str()))))
                .secondary(a.file, a.span, format!("`{}` trains on this data", from.name))
                .help("both stages must come from the same domain: the temporal stage cannot track objects the spatial stage did not learn"),
            );
        }
    }
    dc.diags
}

/// A non-crowd object with no extent: a box of zero width or height, polygons that enclose no area, or an RLE
/// mask of zero area. Polygons are measured (shoelace), not rasterized, to keep `--data` fast on big files.
/// Returns the field that shows it (`bbox` or `segmentation`).
fn empty_annotation_field(a: &CocoAnnotation) -> Option<&'static str> {
    if let Some([_, _, w, h]) = a.bbox {
        if w <= 0.0 || h <= 0.0 {
            return Some("bbox");
        }
    }
    let empty = match &a.segmentation {
        None => false,
        Some(Segmentation::Polygons(polygons)) => polygons.iter().all(|xy| polygon_area(xy) == 0.0),
        // Malformed masks are E0601/E0602's business, not this check's.
        Some(rle @ Segmentation::Rle { size, .. }) => rle
            .to_rle(size[0], size[1])
            .is_ok_and(|rle| rle.area() == 0),
    };
    empty.then_some("segmentation")
}

/// The area enclosed by a polygon given as `[x0, y0, x1, y1, ...]`.
fn polygon_area(xy: &[f64]) -> f64 {
    let points: Vec<(f64, f64)> = xy.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    let twice: f64 = (0..points.len())
        .map(|i| {
            let (a, b) = (points[i], points[(i + 1) % points.len()]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum();
    twice.abs() / 2.0
}

fn listing<'s>(items: impl Iterator<Item = &'s str>) -> String {
    let all: Vec<String> = items.map(|s| format!("`{s}`")).collect();
    if all.len() <= LIST {
        all.join(", ")
    } else {
        format!("{} and {} more", all[..LIST].join(", "), all.len() - LIST)
    }
}

fn path_of(v: &Val) -> Option<PathBuf> {
    match &v.value {
        Value::Path(p) | Value::Str(p) => Some(PathBuf::from(p)),
        _ => None,
    }
}

impl DataChecker<'_> {
    fn categories(&mut self, data: &Val) -> Option<BTreeSet<String>> {
        let c = data.component()?;
        let path = path_of(c.get("annotations")?)?;
        match self.loaded.get(&path)?.as_ref()? {
            Loaded::Coco(_, d) => Some(d.categories.iter().map(|c| c.name.clone()).collect()),
            Loaded::Ytvis(_, d) => Some(d.categories.iter().map(|c| c.name.clone()).collect()),
        }
    }

    fn dataset(&mut self, data: &Val, training: bool) {
        let Some(c) = data.component().cloned() else {
            return;
        };
        let Some(ann) = c.get("annotations").cloned() else {
            return;
        };
        let Some(path) = path_of(&ann) else { return };
        if !self.checked.insert((path.clone(), training)) {
            return;
        }
        if !self.loaded.contains_key(&path) {
            let loaded = self.load(&c, &ann, &path);
            self.loaded.insert(path.clone(), loaded);
        }
        let Some(Some(loaded)) = self.loaded.remove(&path) else {
            return;
        };
        match &loaded {
            Loaded::Coco(file, d) => self.check_coco(&c, *file, d, training),
            Loaded::Ytvis(file, d) => self.check_ytvis(&c, *file, d),
        }
        self.loaded.insert(path, Some(loaded));
    }

    /// A model's weights file must exist (its content is the runtime's to read: a checkpoint is no text).
    fn weights(&mut self, weights: &Val) {
        let Some(path) = path_of(weights) else { return };
        if !self.checked.insert((path.clone(), false)) || self.db.exists(&path) {
            return;
        }
        self.diags.push(
            Diagnostic::new(Code::E0600, format!("weights file `{}` does not exist", path.display()))
                .primary(weights.file, weights.span, "not found")
                .help("paths are relative to the directory `sam3c` runs in; Meta's `sam3.pt` is downloaded from Hugging Face (facebook/sam3) beforehand"),
        );
    }

    fn load(&mut self, c: &ComponentValue, ann: &Val, path: &Path) -> Option<Loaded> {
        if !self.db.exists(path) {
            self.diags.push(
                Diagnostic::new(Code::E0600, format!("annotation file `{}` does not exist", path.display()))
                    .primary(ann.file, ann.span, "not found")
                    .help("paths are relative to the directory `sam3c` runs in; `--set data_root=...` moves them all"),
            );
            return None;
        }
        let text = match self.db.read_text(path) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0600,
                        format!("cannot read `{}`: {e}", path.display()),
                    )
                    .primary(ann.file, ann.span, "cannot be read"),
                );
                return None;
            }
        };
        let parsed = if c.name() == "ytvis_videos" {
            sam3c_formats::ytvis::parse_ytvis(&text).map(|d| (None, Some(d)))
        } else {
            sam3c_formats::coco::parse_coco(&text).map(|d| (Some(d), None))
        };
        let file = self.files.add(path.to_path_buf(), text);
        match parsed {
            Ok((Some(d), _)) => Some(Loaded::Coco(file, d)),
            Ok((_, Some(d))) => Some(Loaded::Ytvis(file, d)),
            Ok(_) => None,
            Err(e) => {
                self.malformed(file, ann, &e);
                None
            }
        }
    }

    fn malformed(&mut self, file: FileId, ann: &Val, e: &FormatError) {
        // The parser's own position is the most precise; the value's range when only that is known.
        let span = match (e.offset(), &e.span) {
            (Some(o), _) => Span::new(o, o + 1),
            (None, Some(r)) => Span::new(r.start, r.end.max(r.start + 1)),
            (None, None) => Span::new(0, 1),
        };
        let span = self.clamp(file, span);
        let what = e
            .path
            .as_ref()
            .filter(|p| !p.contains('?'))
            .map(|p| format!(" at `{p}`"))
            .unwrap_or_default();
        self.diags.push(
            Diagnostic::new(
                Code::E0601,
                format!(
                    "`{}` is not a valid annotation file{what}: {}",
                    self.files.get(file).path.display(),
                    e.message
                ),
            )
            .primary(file, span, "here")
            .secondary(ann.file, ann.span, "named here"),
        );
    }

    fn clamp(&self, file: FileId, span: Span) -> Span {
        let len = self.files.get(file).text.len();
        let start = (span.start as usize).min(len.saturating_sub(1));
        let end = (span.end as usize).clamp(start, len);
        Span::new(start, end.max(start))
    }

    /// The span of an entry of a JSON array: its `id` (one line, where the whole object would span many).
    fn entry_span(&self, file: FileId, array: &str, index: usize) -> Span {
        let text = &self.files.get(file).text;
        if let Some(r) = locate(
            text,
            &[
                PathSeg::Key(array),
                PathSeg::Index(index),
                PathSeg::Key("id"),
            ],
        ) {
            return Span::new(r.start, r.end);
        }
        let whole = self.json_span(file, &[PathSeg::Key(array), PathSeg::Index(index)]);
        Span::new(whole.start as usize, whole.start as usize + 1)
    }

    /// The span of a JSON value, or the start of the file.
    fn json_span(&self, file: FileId, path: &[PathSeg]) -> Span {
        let text = &self.files.get(file).text;
        match locate(text, path) {
            Some(r) => Span::new(r.start, r.end),
            None => Span::new(0, 1.min(text.len())),
        }
    }

    /// E0605 for the annotations (indices in `annotations`) whose `field` names no entry of `collection`,
    /// pointing at the first of them.
    fn unknown_references(
        &mut self,
        file: FileId,
        annotations: &[usize],
        field: &str,
        collection: &str,
    ) {
        let Some(&first) = annotations.first() else {
            return;
        };
        let fname = self.files.get(file).path.display().to_string();
        let what = match collection {
            "categories" => "category",
            _ => collection.trim_end_matches('s'),
        };
        let span = self.json_span(
            file,
            &[
                PathSeg::Key("annotations"),
                PathSeg::Index(first),
                PathSeg::Key(field),
            ],
        );
        self.diags.push(
            Diagnostic::new(
                Code::E0605,
                format!(
                    "{} annotations in `{fname}` refer to an unknown {what}",
                    annotations.len()
                ),
            )
            .primary(file, span, format!("no {what} has this id"))
            .help(format!(
                "every `{field}` must be the `id` of an entry of `{collection}`"
            )),
        );
    }

    fn images_dir(&self, c: &ComponentValue, key: &str) -> Option<(PathBuf, Val)> {
        let v = c.get(key)?.clone();
        Some((path_of(&v)?, v))
    }

    fn check_coco(&mut self, c: &ComponentValue, file: FileId, d: &CocoDataset, training: bool) {
        let ann = c.get("annotations").unwrap().clone();
        let fname = self.files.get(file).path.display().to_string();
        // Structure of the file.
        if d.categories.is_empty() {
            let span = self.json_span(file, &[PathSeg::Key("categories")]);
            self.diags.push(
                Diagnostic::new(Code::E0604, format!("`{fname}` has no categories"))
                    .primary(file, span, "empty")
                    .secondary(ann.file, ann.span, "named here")
                    .help(
                        "each category is one text prompt; SAM 3 has nothing to learn without them",
                    ),
            );
        }
        let sizes: HashMap<i64, (Option<u32>, Option<u32>)> = d
            .images
            .iter()
            .map(|i| (i.id, (i.width, i.height)))
            .collect();
        let cats: HashSet<i64> = d.categories.iter().map(|c| c.id).collect();
        let missing_size: Vec<usize> = (0..d.images.len())
            .filter(|&i| d.images[i].width.is_none() || d.images[i].height.is_none())
            .collect();
        if let Some(&first) = missing_size.first() {
            let span = self.entry_span(file, "images", first);
            self.diags.push(
                Diagnostic::new(
                    Code::E0603,
                    format!(
                        "{} of {} images in `{fname}` lack `width` or `height`",
                        missing_size.len(),
                        d.images.len()
                    ),
                )
                .primary(file, span, "no `width`/`height`")
                .help("upstream's loader needs them to normalize boxes; write each image's size"),
            );
        }
        let no_crowd: Vec<usize> = (0..d.annotations.len())
            .filter(|&i| d.annotations[i].iscrowd.is_none())
            .collect();
        if let Some(&first) = no_crowd.first() {
            let span = self.entry_span(file, "annotations", first);
            self.diags.push(
                Diagnostic::new(Code::E0603, format!("{} of {} annotations in `{fname}` lack `iscrowd`", no_crowd.len(), d.annotations.len()))
                    .primary(file, span, "no `iscrowd`")
                    .help("upstream's loader reads `iscrowd` from every annotation; write `\"iscrowd\": 0`"),
            );
        }
        let mut unknown_image = Vec::new();
        let mut unknown_cat = Vec::new();
        let mut bad_size = Vec::new();
        let mut empty = Vec::new();
        for (i, a) in d.annotations.iter().enumerate() {
            if a.iscrowd != Some(1) {
                if let Some(field) = empty_annotation_field(a) {
                    empty.push((i, field));
                }
            }
            match sizes.get(&a.image_id) {
                None => unknown_image.push(i),
                Some(&(w, h)) => {
                    if let (Some(Segmentation::Rle { size, .. }), Some(w), Some(h)) =
                        (&a.segmentation, w, h)
                    {
                        if size[0] != h || size[1] != w {
                            bad_size.push((i, *size, (h, w)));
                        }
                    }
                }
            }
            if !cats.contains(&a.category_id) {
                unknown_cat.push(i);
            }
        }
        self.unknown_references(file, &unknown_image, "image_id", "images");
        self.unknown_references(file, &unknown_cat, "category_id", "categories");
        if let Some(&(first, field)) = empty.first() {
            let span = self.json_span(
                file,
                &[
                    PathSeg::Key("annotations"),
                    PathSeg::Index(first),
                    PathSeg::Key(field),
                ],
            );
            let ids: Vec<String> = empty
                .iter()
                .map(|&(i, _)| {
                    d.annotations[i]
                        .id
                        .map_or(format!("#{i}"), |id| id.to_string())
                })
                .collect();
            self.diags.push(
                Diagnostic::new(
                    Code::W0615,
                    format!(
                        "{} of {} annotations in `{fname}` are empty (a zero-area box or mask)",
                        empty.len(),
                        d.annotations.len()
                    ),
                )
                .primary(file, span, "this object has no pixels")
                .note(format!("empty annotations (by id): {}", listing(ids.iter().map(|s| s.as_str()))))
                .help("an empty object gives the box and mask losses nothing to match (Meta's trainer has produced NaN losses on them); fix the labels or remove these annotations"),
            );
        }
        if let Some(&(first, rle, (h, w))) = bad_size.first() {
            let span = self.json_span(
                file,
                &[
                    PathSeg::Key("annotations"),
                    PathSeg::Index(first),
                    PathSeg::Key("segmentation"),
                    PathSeg::Key("size"),
                ],
            );
            self.diags.push(
                Diagnostic::new(Code::E0602, format!("{} masks in `{fname}` are not the size of their image", bad_size.len()))
                    .primary(file, span, format!("mask {}x{} (h x w), image {h}x{w}", rle[0], rle[1]))
                    .help("an RLE's `size` is [height, width] of its image; masks encoded at another resolution land on the wrong pixels"),
            );
        }
        // Image files.
        if let Some((dir, dir_val)) = self.images_dir(c, "images") {
            if !self.db.exists(&dir) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0600,
                        format!("image folder `{}` does not exist", dir.display()),
                    )
                    .primary(dir_val.file, dir_val.span, "not found"),
                );
            } else {
                let mut missing = Vec::new();
                let mut wrong_size = Vec::new();
                for img in &d.images {
                    let p = dir.join(&img.file_name);
                    if !self.db.exists(&p) {
                        missing.push(img.file_name.as_str());
                    } else if let (Some((fw, fh)), Some(w), Some(h)) =
                        (self.db.image_size(&p), img.width, img.height)
                    {
                        if (fw, fh) != (w, h) {
                            wrong_size.push((img.file_name.as_str(), (fw, fh), (w, h)));
                        }
                    }
                }
                if !missing.is_empty() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0600,
                            format!(
                                "{} of {} images of `{fname}` are missing from `{}`",
                                missing.len(),
                                d.images.len(),
                                dir.display()
                            ),
                        )
                        .primary(dir_val.file, dir_val.span, "looked here")
                        .note(format!("missing: {}", listing(missing.iter().copied()))),
                    );
                }
                if let Some((name, (fw, fh), (w, h))) = wrong_size.first() {
                    self.diags.push(
                        Diagnostic::new(Code::E0602, format!("{} image files differ in size from `{fname}`", wrong_size.len()))
                            .primary(dir_val.file, dir_val.span, format!("`{name}` is {fw}x{fh}, the file says {w}x{h} (w x h)"))
                            .help("boxes and masks are in the annotated size; re-export the annotations for these images"),
                    );
                }
            }
        }
        // Per category.
        let mut per_cat: BTreeMap<i64, usize> = d.categories.iter().map(|c| (c.id, 0)).collect();
        let mut positive_images: HashSet<i64> = HashSet::new();
        for a in &d.annotations {
            if a.iscrowd.unwrap_or(0) == 0 {
                if let Some(n) = per_cat.get_mut(&a.category_id) {
                    *n += 1;
                }
                positive_images.insert(a.image_id);
            }
        }
        let name_of = |id: i64| {
            d.categories
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.name.as_str())
                .unwrap_or("?")
        };
        let empty: Vec<usize> = d
            .categories
            .iter()
            .enumerate()
            .filter(|(_, c)| per_cat[&c.id] == 0)
            .map(|(i, _)| i)
            .collect();
        if let Some(&first) = empty.first() {
            let span = self.entry_span(file, "categories", first);
            self.diags.push(
                Diagnostic::new(Code::W0614, format!("{} categor{} of `{fname}` have no annotations", empty.len(), if empty.len() == 1 { "y" } else { "ies" }))
                    .primary(file, span, "never annotated")
                    .note(format!("without annotations: {}", listing(empty.iter().map(|&i| d.categories[i].name.as_str()))))
                    .help("a category without examples only ever appears as a negative prompt; annotate it or remove it"),
            );
        }
        if !training || d.images.is_empty() {
            return;
        }
        let negatives = d
            .images
            .iter()
            .filter(|i| !positive_images.contains(&i.id))
            .count();
        let share = negatives as f64 / d.images.len() as f64;
        if share < NEGATIVES.0 || share > NEGATIVES.1 {
            self.diags.push(
                Diagnostic::new(Code::W0611, format!("{:.0} % of the training images have no object ({negatives} of {})", share * 100.0, d.images.len()))
                    .primary(ann.file, ann.span, "training data")
                    .help("10-20 % negative images teach SAM 3 when a prompt is absent (the presence token) without drowning the positives"),
            );
        }
        let counted: Vec<(i64, usize)> = per_cat
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (*k, *n))
            .collect();
        if let (Some(max), Some(min)) = (
            counted.iter().max_by_key(|(_, n)| *n),
            counted.iter().min_by_key(|(_, n)| *n),
        ) {
            if max.1 as f64 > MAX_IMBALANCE * min.1 as f64 {
                self.diags.push(
                    Diagnostic::new(Code::W0612, format!("classes are unbalanced: `{}` has {} examples, `{}` has {}", name_of(max.0), max.1, name_of(min.0), min.1))
                        .primary(ann.file, ann.span, "training data")
                        .help("keep classes within 2x of each other (collect more of the rare ones, or subsample)"),
                );
            }
        }
        let few: Vec<(i64, usize)> = counted
            .iter()
            .filter(|(_, n)| *n < MIN_PER_CLASS)
            .copied()
            .collect();
        if !few.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    Code::W0613,
                    format!(
                        "{} classes have fewer than {MIN_PER_CLASS} examples",
                        few.len()
                    ),
                )
                .primary(ann.file, ann.span, "training data")
                .note(format!(
                    "fewest: {}",
                    listing(few.iter().map(|(k, _)| name_of(*k)))
                ))
                .help("about 100 examples per class are what a fine-tune needs to be robust"),
            );
        }
    }

    fn check_ytvis(&mut self, c: &ComponentValue, file: FileId, d: &YtvisDataset) {
        let ann = c.get("annotations").unwrap().clone();
        let fname = self.files.get(file).path.display().to_string();
        if d.categories.is_empty() {
            let span = self.json_span(file, &[PathSeg::Key("categories")]);
            self.diags.push(
                Diagnostic::new(Code::E0604, format!("`{fname}` has no categories"))
                    .primary(file, span, "empty")
                    .secondary(ann.file, ann.span, "named here"),
            );
        }
        let videos: HashMap<i64, usize> = d
            .videos
            .iter()
            .enumerate()
            .map(|(i, v)| (v.id, i))
            .collect();
        let cats: HashSet<i64> = d.categories.iter().map(|c| c.id).collect();
        let mut annotated: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); d.videos.len()];
        let (mut unknown_video, mut unknown_cat) = (Vec::new(), Vec::new());
        for (i, a) in d.annotations.iter().enumerate() {
            if !cats.contains(&a.category_id) {
                unknown_cat.push(i);
            }
            let Some(&v) = videos.get(&a.video_id) else {
                unknown_video.push(i);
                continue;
            };
            let video = &d.videos[v];
            for (f, s) in a.segmentations.iter().enumerate() {
                let Some(s) = s else { continue };
                annotated[v].insert(f);
                if let (Segmentation::Rle { size, .. }, Some(w), Some(h)) =
                    (s, video.width, video.height)
                {
                    if size[0] != h || size[1] != w {
                        let span = self.json_span(
                            file,
                            &[
                                PathSeg::Key("annotations"),
                                PathSeg::Index(i),
                                PathSeg::Key("segmentations"),
                                PathSeg::Index(f),
                            ],
                        );
                        self.diags.push(
                            Diagnostic::new(Code::E0602, format!("a mask of annotation {i} in `{fname}` is not the size of its video"))
                                .primary(file, span, format!("mask {}x{}, video {h}x{w} (h x w)", size[0], size[1])),
                        );
                        break;
                    }
                }
            }
        }
        self.unknown_references(file, &unknown_video, "video_id", "videos");
        self.unknown_references(file, &unknown_cat, "category_id", "categories");
        let frames_needed = c
            .component("clip")
            .and_then(|clip| clip.number("frames"))
            .unwrap_or(1.0) as usize;
        let short: Vec<usize> = (0..d.videos.len())
            .filter(|&v| annotated[v].len() < frames_needed)
            .collect();
        if let Some(&first) = short.first() {
            let span = self.entry_span(file, "videos", first);
            let clip = c.get("clip").cloned();
            let mut diag = Diagnostic::new(
                Code::E0606,
                format!(
                    "{} of {} videos in `{fname}` have fewer than {frames_needed} annotated frames",
                    short.len(),
                    d.videos.len()
                ),
            )
            .primary(
                file,
                span,
                format!("{} annotated frames", annotated[first].len()),
            );
            if let Some(clip) = clip {
                diag = diag.secondary(
                    clip.file,
                    clip.span,
                    format!("clips of {frames_needed} frames"),
                );
            }
            self.diags.push(diag.help("sample fewer frames per clip (`clips(N)`), or annotate more frames (SAM 2's loader fails on these after a retry loop)"));
        }
        if let Some((dir, dir_val)) = self.images_dir(c, "frames") {
            if !self.db.exists(&dir) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0600,
                        format!("frame folder `{}` does not exist", dir.display()),
                    )
                    .primary(dir_val.file, dir_val.span, "not found"),
                );
            } else {
                let total: usize = d.videos.iter().map(|v| v.file_names.len()).sum();
                let missing: Vec<&str> = d
                    .videos
                    .iter()
                    .flat_map(|v| v.file_names.iter())
                    .filter(|f| !self.db.exists(&dir.join(f)))
                    .map(|s| s.as_str())
                    .collect();
                if !missing.is_empty() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0600,
                            format!(
                                "{} of {total} frames of `{fname}` are missing from `{}`",
                                missing.len(),
                                dir.display()
                            ),
                        )
                        .primary(dir_val.file, dir_val.span, "looked here")
                        .note(format!("missing: {}", listing(missing.iter().copied()))),
                    );
                }
            }
        }
    }
}
