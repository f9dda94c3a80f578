//! The streams and each node's durable consumer on them.

use super::*;

/// Creates or updates the streams (idempotent). Returns where the per-node
/// consumers begin when an older hub's single consumer is still there (the
/// stream sequence after its ack floor), else None (from the start).
pub async fn ensure_streams(
    js: &jetstream::Context,
    replicas: usize,
) -> anyhow::Result<Option<u64>> {
    let up = jetstream::stream::Config {
        name: UP_STREAM.into(),
        subjects: vec!["pvm.up.>".into()],
        storage: jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        max_message_size: MAX_MESSAGE_BYTES,
        num_replicas: replicas,
        // Stored as pvm.up.<partition>.<venue>.<node> (see `partitions`).
        subject_transform: Some(jetstream::stream::SubjectTransform {
            source: partitions::transform().0,
            destination: partitions::transform().1,
        }),
        ..Default::default()
    };
    js.create_or_update_stream(up).await?;
    let down = jetstream::stream::Config {
        name: DOWN_STREAM.into(),
        subjects: vec!["pvm.down.>".into()],
        storage: jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        num_replicas: replicas,
        // A venue's accounts list replaces the one before it on the stream
        // (`Nats-Rollup: sub`): only the newest is kept.
        allow_rollup: true,
        ..Default::default()
    };
    js.create_or_update_stream(down).await?;
    match js
        .get_consumer_from_stream::<pull::Config, _, _>(LEGACY_CONSUMER, UP_STREAM)
        .await
    {
        Ok(mut legacy) => {
            let info = legacy.info().await?;
            Ok(Some(info.ack_floor.stream_sequence + 1))
        }
        Err(_) => Ok(None),
    }
}

pub(crate) fn consumer_name(node: Uuid) -> String {
    format!("ingest-{node}")
}

/// The subjects a node's events are stored under: from before the stream
/// was partitioned, and since.
pub(crate) fn node_subjects(venue: Uuid, node: Uuid) -> Vec<String> {
    vec![
        format!("pvm.up.{venue}.{node}"),
        format!("pvm.up.*.{venue}.{node}"),
    ]
}

/// The node's ingest consumer, made if missing (from `start`, or the first
/// message of its subjects); one made before the stream was partitioned is
/// given the partitioned subject too (it keeps its place).
pub(crate) async fn node_consumer(
    js: &jetstream::Context,
    venue: Uuid,
    node: Uuid,
    start: Option<u64>,
) -> anyhow::Result<jetstream::consumer::Consumer<pull::Config>> {
    let name = consumer_name(node);
    let subjects = node_subjects(venue, node);
    if let Ok(mut c) = js
        .get_consumer_from_stream::<pull::Config, _, _>(&name, UP_STREAM)
        .await
    {
        let config = c.info().await?.config.clone();
        if config.filter_subjects == subjects {
            return Ok(c);
        }
        let mut config =
            <pull::Config as jetstream::consumer::FromConsumer>::try_from_consumer_config(config)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        config.filter_subject = String::new();
        config.filter_subjects = subjects;
        return Ok(js.update_consumer_on_stream(config, UP_STREAM).await?);
    }
    let deliver_policy = match start {
        Some(start_sequence) => {
            jetstream::consumer::DeliverPolicy::ByStartSequence { start_sequence }
        }
        None => jetstream::consumer::DeliverPolicy::All,
    };
    Ok(js
        .create_consumer_on_stream(
            pull::Config {
                durable_name: Some(name),
                filter_subjects: subjects,
                deliver_policy,
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(5),
                max_ack_pending: NODE_MAX_ACK_PENDING,
                max_deliver: MAX_DELIVER,
                ..Default::default()
            },
            UP_STREAM,
        )
        .await?)
}
