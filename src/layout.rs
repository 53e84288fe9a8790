//! Which layout a lake prefix holds, and the rules that keep one prefix to one layout: a deployed stream keeps
//! its layout (Firehose turns dynamic partitioning on only when it creates a stream, and never off), and deploy
//! never points a stream at a prefix that already holds the other layout's objects.

use anyhow::{Context as _, Result};

use crate::seams::ObjectLake;
use crate::settings::{DEFAULT_PREFIX, Partitioning, PipelineSettings, SettingsInput, prefix_root};

/// The object deploy writes under a prefix's fixed folders, saying which layout the objects beneath are in
/// (`event` or `arrival`). Outside every hour partition, so no reader takes it for readings.
const MARKER: &str = "_reaqtions_layout";

/// The marker's key for the processed prefix of `settings`.
pub(crate) fn marker_key(settings: &PipelineSettings) -> String {
    format!("{}{MARKER}", crate::settings::prefix_root(&settings.prefix))
}

/// The settings `input` resolves to, keeping the layout of `deployed` (the deployment already recorded, when it is
/// of the same stack): what `deploy` and `demo` run before they record anything.
pub(crate) fn resolve_keeping(
    mut input: SettingsInput,
    deployed: Option<&PipelineSettings>,
) -> Result<PipelineSettings> {
    let name = input.stack.clone().unwrap_or_else(|| crate::settings::DEFAULT_STACK.to_owned());
    let deployed = deployed.filter(|d| d.stack == name).map(|d| d.partitioning);
    keep_deployed(&mut input, deployed, &name)?;
    PipelineSettings::resolve(input)
}

/// The layout a deploy gives: the deployed one when none was asked for (`input.partitioning` unset); asking a
/// deployed pipeline for the other is refused, saying what a user can do instead.
pub(crate) fn keep_deployed(input: &mut SettingsInput, deployed: Option<Partitioning>, stack: &str) -> Result<()> {
    let Some(deployed) = deployed else { return Ok(()) };
    let asked = *input.partitioning.get_or_insert(deployed);
    if asked == deployed {
        return Ok(());
    }
    Err(crate::invalid!(
        "pipeline {stack} files readings by {} (partitioning: {}), and its stream keeps that: Firehose sets a stream's \
         layout only when it creates the stream and never changes it. Deploy without --partitioning (or the \
         settings file's partitioning key) to keep {}; to have readings filed by {}, deploy a second pipeline beside \
         this one (`reaqtions --stack <new-name> deploy --partitioning {}`, its own prefix or bucket), point the \
         devices at it, and report each lake on its own",
        describe(deployed),
        deployed.name(),
        deployed.name(),
        describe(asked),
        asked.name(),
    ))
}

fn describe(layout: Partitioning) -> &'static str {
    match layout {
        Partitioning::Event => "the hour each reading was measured",
        Partitioning::Arrival => "the hour each reading arrived",
    }
}

/// The layout the lake's processed prefix already holds, and whether its marker says so: the marker's, or
/// arrival for objects without one (every layout before the marker existed was by arrival); `None` for an empty
/// prefix.
pub(crate) fn found(lake: &dyn ObjectLake, settings: &PipelineSettings) -> Result<Option<(Partitioning, bool)>> {
    let key = marker_key(settings);
    let root = crate::settings::prefix_root(&settings.prefix);
    let listed = |prefix: &str| lake.list(prefix).with_context(|| format!("cannot list {}", lake.location(prefix)));
    if listed(&key)?.iter().any(|o| o.key == key) {
        let text = lake.get(&key)?;
        let text = String::from_utf8_lossy(&text);
        return text.trim().parse().map(|layout| Some((layout, true))).map_err(|e| {
            crate::invalid!(
                "{} says the layout is {:?}, which is neither event nor arrival: {e}",
                lake.location(&key),
                text.trim()
            )
        });
    }
    let holds = lake.holds_any(root).with_context(|| format!("cannot list {}", lake.location(root)))?;
    Ok(holds.then_some((Partitioning::Arrival, false)))
}

/// Refuses a prefix that holds the other layout's objects, or records this one's layout there (when it is not
/// recorded yet). Deploy calls it before it creates or updates the stream.
pub(crate) fn claim(lake: &dyn ObjectLake, settings: &PipelineSettings) -> Result<()> {
    let root = crate::settings::prefix_root(&settings.prefix);
    match found(lake, settings)? {
        Some((layout, true)) if layout == settings.partitioning => Ok(()),
        Some((layout, false)) if layout == settings.partitioning => mark(lake, settings),
        Some((layout, _)) => Err(crate::invalid!(
            "{} already holds readings filed by {} (partitioning: {}): one prefix never holds both \
             layouts, as readers would take one hour's folder for the other's. Pass --partitioning {} to keep it, \
             or give this pipeline its own --prefix or --bucket",
            lake.location(root),
            describe(layout),
            layout.name(),
            layout.name(),
        )),
        None => mark(lake, settings),
    }
}

fn mark(lake: &dyn ObjectLake, settings: &PipelineSettings) -> Result<()> {
    let key = marker_key(settings);
    lake.put(&key, settings.partitioning.name().as_bytes())
        .with_context(|| format!("cannot record the lake's layout in {}", lake.location(&key)))
}

/// The settings of a lake named without its deployment (`--bucket`, no stack read), with the layout the lake
/// records: deploy writes it under the default prefix's fixed folders ([`crate::layout`]). A lake that records
/// none (deployed before the layout could be chosen, or built by other means, such as the console's) is read by
/// arrival: the arrival rule reads a superset of a keyed lake's partitions, never fewer.
pub(crate) fn as_recorded(lake: &dyn ObjectLake, settings: &PipelineSettings) -> Result<PipelineSettings> {
    let mut settings = settings.clone();
    let layout = match crate::layout::found(lake, &settings)? {
        Some((layout, true)) => layout,
        _ => Partitioning::Arrival,
    };
    settings.prefix = match layout {
        Partitioning::Event => crate::prefix::keyed_prefix(prefix_root(DEFAULT_PREFIX)),
        Partitioning::Arrival => DEFAULT_PREFIX.to_owned(),
    };
    settings.partitioning = layout;
    Ok(settings)
}
