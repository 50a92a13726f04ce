from tests.factories import auth, make_session, make_user


def test_get_own_session(client, db):
    user, token = make_user(db)
    session = make_session(db, user)

    response = client.get(f"/api/interview/sessions/{session.id}", headers=auth(token))

    assert response.status_code == 200
    assert len(response.json()["data"]["questions"]) == 2
