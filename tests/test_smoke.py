from tests.conftest import assert_detail


def test_nothing_loaded_status_is_pinned_bytes(api):
    response = api.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.content == (
        b'{"current_directory":null,"image_count":0,"image_list":[],"load_time":null,'
        b'"timeout_minutes":null,"auto_unload_at":null,"time_remaining":null}'
    )


def test_load_then_serve(api, frames):
    body = api.load(frames)
    assert body["image_count"] == 5
    response = api.get("/images/frame_000001.jpg")
    assert response.status_code == 200
    assert response.content == (frames / "frame_000001.jpg").read_bytes()
    assert_detail(api.get("/images/nope.jpg"), 404, "Image not found: nope.jpg")
