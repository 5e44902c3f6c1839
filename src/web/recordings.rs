//! Recordings in the JSON API (a child of `api`, sharing its token checks
//! and errors): start/stop a live room's recording, list, show, download
//! and delete recordings.
//!
//! * `POST /api/v1/rooms/{room}/recording` `{"recording": true|false, "tracks": bool?}` (admin)
//! * `GET /api/v1/recordings`, `GET /api/v1/recordings/{id}` (viewer)
//! * `GET /api/v1/recordings/{id}/file` (the room mix) and `.../files/{name}` (viewer)
//! * `DELETE /api/v1/recordings/{id}` (admin; not while it is being written)

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::{ApiError, AppState, ask, authorize, body};
use crate::recorder::valid_id;
use crate::sip::admin::AdminRequest;
use crate::store::recordings::RecordingRow;

/// The recording routes (merged into `/api/v1`).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/rooms/{room}/recording", post(switch))
        .route("/recordings", get(list))
        .route("/recordings/{id}", get(show).delete(remove))
        .route("/recordings/{id}/file", get(mix_file))
        .route("/recordings/{id}/files/{name}", get(named_file))
}

fn db(e: crate::store::StoreError) -> ApiError {
    tracing::error!("recordings: {e}");
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the database did not answer".into(),
    )
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SwitchBody {
    recording: bool,
    #[serde(default)]
    tracks: Option<bool>,
}

async fn switch(
    State(s): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    // Who: `api:TOKEN` for scripts, `admin:NAME` for the admin UI.
    let p = crate::web::auth::principal(&s, &headers, true).await?;
    let by = p.by();
    let SwitchBody { recording, tracks } = body(&bytes)?;
    let r = room.clone();
    let id = ask(&s, |reply| AdminRequest::Record {
        room: r,
        on: recording,
        by,
        tracks,
        reply,
    })
    .await??;
    // The recorder writes the job's row on its own task: answer once it is
    // there, so that a GET of the id that was just given finds it.
    if recording && let Some(id) = &id {
        for _ in 0..40 {
            if s.store.recording(id).await.map_err(db)?.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    Ok(Json(json!({"room": room, "recording": recording, "id": id})).into_response())
}

async fn list(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize(&s, &headers, false).await?;
    let rows = s.store.list_recordings(1000).await.map_err(db)?;
    Ok(Json(json!({ "recordings": rows })).into_response())
}

async fn find(s: &AppState, id: &str) -> Result<RecordingRow, ApiError> {
    let missing = || {
        ApiError(
            StatusCode::NOT_FOUND,
            "recording_not_found",
            format!("no recording {id:?}"),
        )
    };
    if !valid_id(id) {
        return Err(missing());
    }
    s.store.recording(id).await.map_err(db)?.ok_or_else(missing)
}

async fn show(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&s, &headers, false).await?;
    Ok(Json(find(&s, &id).await?).into_response())
}

async fn file(s: &AppState, row: &RecordingRow, name: &str) -> Result<Response, ApiError> {
    let gone = || {
        ApiError(
            StatusCode::NOT_FOUND,
            "file_not_found",
            format!("recording {} has no file {name:?}", row.id),
        )
    };
    if !row.files.iter().any(|f| f == name) || name.contains('/') {
        return Err(gone());
    }
    let dir = s.status.recorder_dir.get().ok_or_else(gone)?;
    let data = tokio::fs::read(dir.join(name)).await.map_err(|_| gone())?;
    let kind = if name.ends_with(".json") {
        "application/json"
    } else {
        "audio/ogg"
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        data,
    )
        .into_response())
}

async fn mix_file(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&s, &headers, false).await?;
    let row = find(&s, &id).await?;
    let name = crate::recorder::job::mix_name(&row.id);
    file(&s, &row, &name).await
}

async fn named_file(
    State(s): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&s, &headers, false).await?;
    let row = find(&s, &id).await?;
    file(&s, &row, &name).await
}

async fn remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    authorize(&s, &headers, true).await?;
    let row = find(&s, &id).await?;
    if !row.state.is_final() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "recording_active",
            format!("recording {id} is {}: stop it first", row.state.as_str()),
        ));
    }
    if let Some(dir) = s.status.recorder_dir.get() {
        crate::recorder::service::delete_files(dir, &row);
    }
    s.store.remove_recording(&id).await.map_err(db)?;
    Ok(StatusCode::NO_CONTENT)
}
