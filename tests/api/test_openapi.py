"""The OpenAPI document tells the truth about errors: every one is the envelope."""

from __future__ import annotations

from tests.routes import uncalled_app


def test_every_error_response_is_documented_as_the_envelope():
    document = uncalled_app().openapi()
    errors = {
        (path, method, status): response
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400
    }

    assert errors
    for where, response in errors.items():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, where
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_every_api_operation_documents_401_and_422():
    document = uncalled_app().openapi()

    for path, operations in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            # A signed link carries its credential in its path and is never 401.
            expected = {"422", "429", "500"} | (
                {"401"} if "security" in operation else set()
            )
            assert expected <= set(operation["responses"]), (method, path)
