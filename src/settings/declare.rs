//! What a setting's declaration says besides its key and flag: how its value is written as a stack parameter,
//! its default (fixed, or one per partition layout), its range or its allowed values, and the `declare_settings!`
//! macro that turns each entry into the schema, the flags and their help, the defaults, the range checks and both
//! directions of the stack parameters. `input.rs` holds the entries themselves.

use anyhow::Result;

use crate::compression::Compression;
use crate::invalid;
use crate::lifecycle::StorageClass;
use reaqtions_lambda::Partitioning;

/// How a setting's value is written as a CloudFormation parameter (every parameter is a string) and read back.
pub trait ParameterValue: Sized {
    fn to_parameter(&self) -> String;
    fn from_parameter(text: &str) -> Option<Self>;
    /// Every value the type has, when it has few (what the template's `AllowedValues` lists).
    fn choices() -> Option<Vec<Self>> {
        None
    }
    /// The value as a number, for a range check.
    fn as_number(&self) -> Option<f64> {
        None
    }
}

macro_rules! number_parameter {
    ($($ty:ty),*) => {$(
        impl ParameterValue for $ty {
            fn to_parameter(&self) -> String {
                self.to_string()
            }
            fn from_parameter(text: &str) -> Option<Self> {
                text.parse().ok()
            }
            fn as_number(&self) -> Option<f64> {
                Some(f64::from(*self))
            }
        }
    )*};
}
number_parameter!(u32, f64);

impl ParameterValue for String {
    fn to_parameter(&self) -> String {
        self.clone()
    }
    fn from_parameter(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
}

impl ParameterValue for bool {
    fn to_parameter(&self) -> String {
        self.to_string()
    }
    fn from_parameter(text: &str) -> Option<Self> {
        text.parse().ok()
    }
    fn choices() -> Option<Vec<Self>> {
        Some(vec![true, false])
    }
}

impl ParameterValue for Compression {
    fn to_parameter(&self) -> String {
        self.firehose_format().to_owned()
    }
    fn from_parameter(text: &str) -> Option<Self> {
        Self::choices()?.into_iter().find(|c| c.firehose_format() == text)
    }
    fn choices() -> Option<Vec<Self>> {
        Some(vec![Compression::Gzip, Compression::None])
    }
}

impl ParameterValue for StorageClass {
    fn to_parameter(&self) -> String {
        self.as_str().to_owned()
    }
    fn from_parameter(text: &str) -> Option<Self> {
        Self::choices()?.into_iter().find(|c| c.as_str() == text)
    }
    fn choices() -> Option<Vec<Self>> {
        Some(vec![StorageClass::IntelligentTiering, StorageClass::StandardIa, StorageClass::GlacierIr])
    }
}

impl ParameterValue for Partitioning {
    fn to_parameter(&self) -> String {
        self.name().to_owned()
    }
    fn from_parameter(text: &str) -> Option<Self> {
        text.parse().ok()
    }
    fn choices() -> Option<Vec<Self>> {
        Some(vec![Partitioning::Event, Partitioning::Arrival])
    }
}

/// A setting the template takes in another unit: the Athena scan limit is given in GB and enforced in bytes.
pub(super) struct GibAsBytes;

impl GibAsBytes {
    pub(super) fn to_parameter(gib: &u32) -> String {
        (u64::from(*gib) << 30).to_string()
    }
    pub(super) fn from_parameter(text: &str) -> Option<u32> {
        text.parse::<u64>().ok().and_then(|bytes| u32::try_from(bytes >> 30).ok())
    }
}

/// A default that depends on the partition layout in force (Firehose's buffering minimums with partitioning on).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ByLayout<T> {
    pub(crate) event: T,
    pub(crate) arrival: T,
}

/// A declared default: one value for every layout, or one per layout ([`ByLayout`]).
pub(crate) trait DefaultFor<T> {
    fn under(self, layout: Partitioning) -> T;
}

impl<T> DefaultFor<T> for T {
    fn under(self, _: Partitioning) -> T {
        self
    }
}

impl DefaultFor<String> for &str {
    fn under(self, _: Partitioning) -> String {
        self.to_owned()
    }
}

impl<T> DefaultFor<T> for ByLayout<T> {
    fn under(self, layout: Partitioning) -> T {
        match layout {
            Partitioning::Event => self.event,
            Partitioning::Arrival => self.arrival,
        }
    }
}

/// A resolved setting's value as the settings file gives it: a setting with a default is always in force, one
/// without (an optional one) may be unset.
pub(crate) trait IntoGiven<T> {
    fn into_given(self) -> Option<T>;
}

impl<T> IntoGiven<T> for T {
    fn into_given(self) -> Option<T> {
        Some(self)
    }
}

impl<T> IntoGiven<T> for Option<T> {
    fn into_given(self) -> Option<T> {
        self
    }
}

/// A setting's allowed range, in the unit it is given in, and what its error message calls it.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    /// The setting as the message names it ("buffer size"), and its unit ("MiB").
    pub what: &'static str,
    pub unit: &'static str,
    pub lo: f64,
    pub hi: f64,
}

/// A setting that takes one of a list of values ([`Declared::choices`]), and whose list it is.
#[derive(Debug, Clone, Copy)]
pub struct OneOf {
    pub what: &'static str,
    /// After the value ("days"), empty for a word.
    pub unit: &'static str,
    /// Who offers the list ("CloudWatch Logs offers").
    pub by: &'static str,
}

/// One declared setting, for what reads the declaration: the template check, the example file, the flags, help
/// and the range checks.
#[derive(Debug, Clone, Copy)]
pub struct Declared {
    /// The settings file's key; the flag is `--` and the key with hyphens.
    pub key: &'static str,
    /// The pipeline stack's parameter that carries it.
    pub parameter: &'static str,
    /// The parameter's text for "unset", for a setting that may be left unset.
    pub unset: Option<&'static str>,
    pub range: Option<Range>,
    pub one_of: Option<OneOf>,
    /// The default under a layout, as the stack parameter writes it; `None` when there is none to declare (unset,
    /// or derived from the stack's name).
    pub default_parameter: fn(Partitioning) -> Option<String>,
    /// The same default as the settings file writes it.
    pub default_given: fn(Partitioning) -> Option<String>,
    /// Every value the parameter may take, when there is a list (the type's values, or the declared ones).
    pub choices: fn() -> Option<Vec<String>>,
    /// A bound of the range as the stack parameter writes it (the template's `MinValue`/`MaxValue`).
    pub bound_parameter: fn(f64) -> Option<String>,
}

impl Declared {
    /// Checks one given value against the declared range or list, naming it by what the rule calls it.
    pub(crate) fn check(&self, number: Option<f64>, text: &str) -> Result<()> {
        if let (Some(Range { what, unit, lo, hi }), Some(value)) = (self.range, number)
            && !(lo..=hi).contains(&value)
        {
            return Err(invalid!("{what} {value} {unit} is outside the allowed {lo}-{hi} {unit}"));
        }
        if let (Some(OneOf { what, unit, by }), Some(choices)) = (self.one_of, (self.choices)())
            && !choices.iter().any(|c| c == text)
        {
            let shown = if unit.is_empty() { format!("{text:?}") } else { format!("{text} {unit}") };
            return Err(invalid!("{what} {shown} is not one {by}: {}", listed(&choices)));
        }
        Ok(())
    }

    /// The help's closing note, from the declaration: the range, and the default (per layout when it depends on
    /// it). A long default (a prefix) is left to examples/reaqtions.yaml, which shows every one.
    pub(crate) fn help(&self, doc: &str) -> String {
        let mut notes = Vec::new();
        if let Some(Range { lo, hi, .. }) = self.range {
            notes.push(format!("{lo}-{hi}"));
        }
        if let (Some(_), Some(choices)) = (self.one_of, (self.choices)()) {
            notes.push(listed(&choices));
        }
        let (event, arrival) = ((self.default_given)(Partitioning::Event), (self.default_given)(Partitioning::Arrival));
        match (event, arrival) {
            (Some(event), Some(arrival)) if event != arrival => {
                notes.push(format!("default {event} with partitioning event, else {arrival}"));
            }
            (Some(default), _) if default.len() <= 24 && !default.is_empty() => {
                notes.push(format!("default {default}"));
            }
            _ => {}
        }
        let doc = doc.split_whitespace().collect::<Vec<_>>().join(" ");
        let doc = doc.trim_end_matches('.');
        if notes.is_empty() { doc.to_owned() } else { format!("{doc} ({})", notes.join("; ")) }
    }
}

/// A list of choices as a sentence says it: "a or b", or "a, b, c".
fn listed(choices: &[String]) -> String {
    match choices {
        [a, b] => format!("{a} or {b}"),
        _ => choices.join(", "),
    }
}

/// A value as the settings file writes it (an enum by its serde name), for help.
pub(crate) fn given_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Declares every setting; see the one use in `input.rs` for the entry's parts.
macro_rules! declare_settings {
    (
        $(
            $(#[doc = $doc:literal])*
            #[arg($($arg:tt)*)]
            $key:ident: $ty:ty => $parameter:literal at $($field:ident).+
                $(, unset $unset:literal)?
                $(, via $codec:ident)?
                $(, switch $no:ident)?
                $(, default $default:expr)?
                $(, range $range:expr, named $what:literal $unit:literal)?
                $(, one_of $allowed:expr, named $one_what:literal $one_unit:literal by $by:literal)?
            ;
        )*
    ) => {
        /// Every setting as a person gives it: the settings file's schema (`reaqtions.yaml`, snake_case keys) and
        /// the flags of `deploy` and `cost`. [`SettingsInput::over`] layers flags on the file, and
        /// [`PipelineSettings::resolve`] fills in defaults and checks every rule.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
        #[serde(deny_unknown_fields, rename_all = "snake_case")]
        pub struct SettingsInput {
            /// (From the global --stack.)
            #[arg(skip)]
            pub stack: Option<String>,
            $(
                $(#[doc = $doc])*
                #[arg($($arg)*, help = Declared::$key.help(concat!($($doc, "\n"),*)))]
                pub $key: Option<$ty>,
            )*
            $($(
                /// The switch above, off.
                #[arg(
                    long,
                    overrides_with = stringify!($key),
                    help = concat!("Turn ", stringify!($key), " off (the same as --", stringify!($key), "=false)")
                )]
                #[serde(skip)]
                pub $no: bool,
            )?)*
        }

        /// Every setting with its default filled in for the layout in force; one without a default stays optional.
        /// (The bucket's default is named from the stack, so `resolve` reads it before this is filled.)
        #[derive(Debug, Clone)]
        #[allow(dead_code)]
        pub(crate) struct Filled {
            $(pub(crate) $key: declare_settings!(@filled $ty $(, $default)?),)*
        }

        // Each setting's declaration by its key (`Declared::bucket.parameter` is "RawBucketName").
        #[allow(non_upper_case_globals)]
        impl Declared {
            $(
                pub const $key: Declared = Declared {
                    key: stringify!($key),
                    parameter: $parameter,
                    unset: declare_settings!(@option $($unset)?),
                    range: declare_settings!(@option $(Range {
                        what: $what,
                        unit: $unit,
                        lo: *$range.start() as f64,
                        hi: *$range.end() as f64,
                    })?),
                    one_of: declare_settings!(@option $(OneOf { what: $one_what, unit: $one_unit, by: $by })?),
                    default_parameter: |layout| {
                        declare_settings!(@default_parameter layout, $ty, [$($codec)?] $(, $default)?)
                    },
                    default_given: |_layout| {
                        declare_settings!(@option $({
                            let value: $ty = DefaultFor::<$ty>::under($default, _layout);
                            given_text(&value)
                        })?)
                    },
                    choices: || {
                        declare_settings!(@choices $ty $(, $allowed)?)
                    },
                    bound_parameter: |bound| {
                        declare_settings!(@bound bound, $ty, [$($codec)?] $(, $range)?)
                    },
                };
            )*
        }

        /// Every setting but the stack, in declaration order.
        pub const DECLARED: &[Declared] = &[$(Declared::$key),*];

        impl SettingsInput {
            /// `self` (flags) layered over `file`: a value given here wins; `--no-<switch>` turns it off.
            pub fn over(self, file: SettingsInput) -> SettingsInput {
                let mut layered = SettingsInput::default();
                layered.stack = self.stack.or(file.stack);
                $(
                    layered.$key = self.$key.or(file.$key);
                    $(if self.$no { layered.$key = Some(false) })?
                )*
                layered
            }

            /// The values in force: each given one, else its declared default under the layout in force.
            pub(crate) fn filled(&self) -> Filled {
                let layout = self.partitioning.unwrap_or(DEFAULT_PARTITIONING);
                Filled {
                    $($key: declare_settings!(@fill self.$key.clone(), layout, $ty $(, $default)?),)*
                }
            }

            /// Every given value within its declared range or list, in declaration order.
            pub(crate) fn check_declared(&self) -> Result<()> {
                $(
                    if let Some(value) = &self.$key {
                        Declared::$key.check(ParameterValue::as_number(value), &ParameterValue::to_parameter(value))?;
                    }
                )*
                Ok(())
            }

            /// The stack parameters these settings are deployed as (given ones only).
            pub fn to_parameters(&self) -> Vec<(String, String)> {
                let mut parameters = Vec::new();
                $(
                    let value: Option<String> =
                        declare_settings!(@write self.$key.as_ref() $(, via $codec)?);
                    $(let value = value.or_else(|| Some($unset.to_owned()));)?
                    if let Some(value) = value {
                        parameters.push(($parameter.to_owned(), value));
                    }
                )*
                parameters
            }

            /// The settings a stack was deployed with, from its parameters. A parameter that is missing (a stack
            /// deployed before the setting existed) or unreadable leaves the setting unset.
            pub fn from_parameters(parameters: &BTreeMap<String, String>) -> SettingsInput {
                let mut input = SettingsInput::default();
                $(
                    input.$key = parameters.get($parameter).and_then(|text| {
                        $(if text == $unset { return None; })?
                        declare_settings!(@read text $(, via $codec)?)
                    });
                )*
                input
            }
        }

        impl PipelineSettings {
            /// These settings as the settings file would give them: every key, with the value in force (the
            /// inverse of [`PipelineSettings::resolve`]). What `status` shows, and what deploy writes as stack
            /// parameters.
            pub fn input(&self) -> SettingsInput {
                SettingsInput {
                    stack: Some(self.stack.clone()),
                    $($key: IntoGiven::<$ty>::into_given(self.$($field).+.clone()),)*
                    $($($no: false,)?)*
                }
            }
        }
    };
    (@filled $ty:ty) => { Option<$ty> };
    (@filled $ty:ty, $default:expr) => { $ty };
    (@fill $value:expr, $layout:ident, $ty:ty) => { $value };
    (@fill $value:expr, $layout:ident, $ty:ty, $default:expr) => {
        $value.unwrap_or_else(|| DefaultFor::<$ty>::under($default, $layout))
    };
    (@default_parameter $layout:ident, $ty:ty, [$($codec:ident)?]) => {{
        let _ = $layout;
        None
    }};
    (@default_parameter $layout:ident, $ty:ty, [$($codec:ident)?], $default:expr) => {{
        let value: $ty = DefaultFor::<$ty>::under($default, $layout);
        declare_settings!(@write Some(&value) $(, via $codec)?)
    }};
    (@bound $bound:ident, $ty:ty, [$($codec:ident)?]) => {{
        let _ = $bound;
        None
    }};
    (@bound $bound:ident, $ty:ty, [$($codec:ident)?], $range:expr) => {{
        // A bound is a value of the setting's own type (declared as one), so the cast is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::unnecessary_cast)]
        let value = $bound as $ty;
        declare_settings!(@write Some(&value) $(, via $codec)?)
    }};
    (@option) => { None };
    (@option $value:expr) => { Some($value) };
    (@choices $ty:ty) => {
        <$ty as ParameterValue>::choices().map(|all| all.iter().map(ParameterValue::to_parameter).collect())
    };
    (@choices $ty:ty, $allowed:expr) => { Some($allowed.iter().map(|v| v.to_string()).collect()) };
    (@write $value:expr) => { $value.map(ParameterValue::to_parameter) };
    (@write $value:expr, via $codec:ident) => { $value.map($codec::to_parameter) };
    (@read $text:expr) => { ParameterValue::from_parameter($text) };
    (@read $text:expr, via $codec:ident) => { $codec::from_parameter($text) };
}
pub(super) use declare_settings;
