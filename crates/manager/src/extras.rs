//! What an assignment carries besides the group, renewed with the open, every heartbeat and
//! every group event: the channel's media keys ([`crate::media`]) and the session's ticket
//! for the unicast fallback ([`crate::unicast`]). Both come from the channel's settings,
//! cached here by channel id (channels are never changed in place, only deleted).

use crate::App;
use crate::db::now_ms;
use crate::error::ApiErr;
use groupcast_api::{Assignment, Channel, ChannelId, SessionId};
use std::sync::Arc;

/// Sets `a`'s media keys and unicast ticket for `session` of `channel` in `metro`.
pub(crate) async fn fill(
    app: &App,
    a: &mut Assignment,
    channel: ChannelId,
    session: SessionId,
    metro: &str,
) -> Result<(), ApiErr> {
    if app.media.is_none() && app.unicast.is_none() {
        return Ok(());
    }
    let c = cached(app, channel).await?;
    let now = now_ms();
    if let Some(m) = &app.media {
        a.media_keys = m.keys_for(&c.name, now);
    }
    if let Some(u) = &app.unicast {
        a.unicast = u.ticket(&c, session, metro, now);
    }
    Ok(())
}

/// The channel's settings, from the cache or the database.
async fn cached(app: &App, channel: ChannelId) -> Result<Arc<Channel>, ApiErr> {
    let hit = app
        .channel_cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&channel)
        .cloned();
    if let Some(c) = hit {
        return Ok(c);
    }
    let c = Arc::new(
        crate::channels::by_id(&app.db, channel)
            .await?
            .ok_or_else(|| ApiErr::not_found("the session's channel is gone"))?,
    );
    app.channel_cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(channel, c.clone());
    Ok(c)
}
