//! Every diagnostic code, with its title and its explanation page (`sam3c explain CODE`). A code's page lives in
//! `compiler/explain/CODE.md`; a missing page is a compile error, and `tests/ui/` holds one failing spec per code.

use serde::Serialize;

macro_rules! codes {
    ($($code:ident => $title:literal,)*) => {
        /// A stable diagnostic code. `E` codes are errors, `W` codes warnings.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum Code { $($code,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$code,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$code => stringify!($code),)* }
            }

            /// One line saying what the code is about.
            pub fn title(self) -> &'static str {
                match self { $(Code::$code => $title,)* }
            }

            /// The explanation page, in Markdown.
            pub fn explanation(self) -> &'static str {
                match self { $(Code::$code => include_str!(concat!("../../explain/", stringify!($code), ".md")),)* }
            }
        }
    };
}

codes! {
    E0001 => "syntax error",
    E0002 => "unclosed or unmatched bracket",
    E0003 => "unterminated string",
    E0010 => "file cannot be read",
    E0011 => "import cycle",
    E0100 => "unknown name",
    E0101 => "unknown declaration kind",
    E0102 => "duplicate definition",
    E0103 => "reference cycle",
    E0104 => "unknown component",
    E0105 => "unknown field",
    E0106 => "declaration without a name",
    E0200 => "type mismatch",
    E0201 => "number without a unit",
    E0202 => "wrong unit",
    E0203 => "unknown unit",
    E0204 => "value out of range",
    E0205 => "missing parameter",
    E0206 => "unknown parameter",
    E0207 => "duplicate parameter",
    E0208 => "too many positional arguments",
    E0209 => "invalid override",
    E0210 => "unknown word",
    E0211 => "parameter without a type",
    E0300 => "stage dependency cycle",
    E0301 => "initialized from a stage that saves no weights",
    E0302 => "resume used where init is meant",
    E0303 => "init used where resume is meant",
    E0304 => "resume that trains zero steps",
    E0305 => "image/video domain mismatch",
    E0306 => "resolution not a multiple of the patch size",
    E0307 => "warmup and cooldown longer than the schedule",
    E0308 => "stage initialized from an incompatible model",
    W0300 => "evaluation never runs during the stage",
    W0301 => "periodic checkpoint never written",
    W0302 => "resolution not a multiple of the attention window",
    E0400 => "pattern matches no parameter",
    E0401 => "parameter groups overlap",
    E0402 => "parameters without a learning rate",
    E0403 => "layer decay over a module that is not a ViT trunk",
    W0404 => "frozen parameters in a group",
    E0500 => "segmentation without a mask loss",
    E0501 => "segm meter without masks",
    E0502 => "accumulation does not divide the batch",
    E0503 => "masks needed but not loaded",
    E0504 => "pipeline steps out of order",
    E0505 => "mask loss on a model without segmentation",
    E0506 => "pipeline without normalize",
    E0508 => "fewer corrected frames than conditioning frames",
    W0507 => "evaluating on the training data",
    E0700 => "execution graph has a cycle",
    E0701 => "node input not produced upstream",
    E0702 => "artifact type mismatch",
    E0703 => "two nodes write the same file",
    E0600 => "data file not found",
    E0601 => "malformed annotation file",
    E0602 => "mask size differs from image size",
    E0603 => "required annotation field missing",
    E0604 => "no categories",
    E0605 => "annotation refers to an unknown image or category",
    E0606 => "video shorter than a clip",
    W0610 => "categories not seen by the earlier stage",
    W0611 => "share of negative images outside 10-20 %",
    W0612 => "classes unbalanced",
    W0613 => "few examples per class",
    W0614 => "category without annotations",
    W0615 => "empty annotations",
    E0800 => "stage Meta's trainer cannot run",
    E0801 => "setting Meta's trainer cannot express",
    E0810 => "upstream config cannot be read",
    E0811 => "upstream setting sam3c cannot express",
    W0812 => "key no code reads, dropped",
    W0813 => "job array not converted to a sweep",
}

impl Code {
    pub fn is_warning(self) -> bool {
        self.as_str().starts_with('W')
    }

    pub fn parse(s: &str) -> Option<Code> {
        let s = s.trim().to_ascii_uppercase();
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}
