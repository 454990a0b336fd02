"""app.json (Heroku): its schema, its add-ons and formation, the variables it sets."""

from __future__ import annotations

import jsonschema

from tests.deploy.support import ROOT, app_json, procfile, read_by_code, source_text

# The parts of Heroku's app.json schema (devcenter.heroku.com/articles/app-json-schema)
# that this file uses, strictly: an unknown key or a wrong type is an error.
APP_JSON_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 3, "maxLength": 30},
        "description": {"type": "string", "maxLength": 140},
        "keywords": {"type": "array", "items": {"type": "string"}},
        "website": {"type": "string"},
        "repository": {"type": "string"},
        "logo": {"type": "string"},
        "success_url": {"type": "string"},
        "scripts": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"postdeploy": {"type": "string"}, "pr-predestroy": {"type": "string"}},
        },
        "env": {
            "type": "object",
            "additionalProperties": False,
            "patternProperties": {
                "^[A-Z][A-Z0-9_]*$": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "description": {"type": "string"},
                        "value": {"type": "string"},
                        "required": {"type": "boolean"},
                        "generator": {"enum": ["secret"]},
                    },
                }
            },
        },
        "formation": {
            "type": "object",
            "additionalProperties": False,
            "patternProperties": {
                "^[a-zA-Z0-9_-]+$": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["quantity"],
                    "properties": {
                        "quantity": {"type": "integer", "minimum": 0},
                        "size": {"type": "string"},
                    },
                }
            },
        },
        "addons": {
            "type": "array",
            "items": {
                "oneOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["plan"],
                        "properties": {
                            "plan": {"type": "string"},
                            "as": {"type": "string"},
                            "options": {"type": "object"},
                        },
                    },
                ]
            },
        },
        "buildpacks": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["url"],
                "properties": {"url": {"type": "string"}},
            },
        },
        "stack": {"type": "string"},
        "image": {"type": "string"},
        "environments": {"type": "object"},
    },
}


def test_app_json_follows_herokus_schema():
    jsonschema.validate(app_json(), APP_JSON_SCHEMA)


def test_app_json_has_postgres_and_redis_addons_named_as_config_reads_them():
    addons = {
        (a if isinstance(a, str) else a["plan"]).split(":")[0]: a for a in app_json()["addons"]
    }
    assert set(addons) == {"heroku-postgresql", "heroku-redis"}
    # Their config vars are <as>_URL: the names config.py reads.
    text = (ROOT / "config.py").read_text()
    for plan, variable in (("heroku-postgresql", "DATABASE_URL"), ("heroku-redis", "REDIS_URL")):
        addon = addons[plan]
        if isinstance(addon, dict) and "as" in addon:
            assert addon["as"] + "_URL" == variable
        assert read_by_code(variable, text)


def test_app_json_formation_matches_the_procfile():
    """Every long-running process type, one each; release is Heroku's release phase,
    never scaled."""
    formation = app_json()["formation"]
    assert set(formation) == set(procfile()) - {"release"}
    assert {name: f["quantity"] for name, f in formation.items()} == {"web": 1, "worker": 1}


def test_app_json_uses_the_python_buildpack():
    assert app_json()["buildpacks"] == [{"url": "heroku/python"}]


def test_app_json_sets_only_variables_the_code_reads():
    text = source_text()
    unread = [name for name in app_json()["env"] if not read_by_code(name, text)]
    assert unread == [], f"app.json sets variables no code reads: {unread}"


def test_app_json_asks_for_secrets_and_mail_settings():
    env = app_json()["env"]
    assert env["SECRET_KEY"].get("generator") == "secret"
    # A variable with no value is required (the default in app.json): Heroku asks for it.
    for name in (
        "BASE_URL",
        "MAIL_SERVER",
        "MAIL_USERNAME",
        "MAIL_PASSWORD",
    ):
        assert "value" not in env[name] and env[name].get("required", True), name
    # The sender has a default built from BASE_URL ("Mooch <mooch@host>").
    assert env["MAIL_DEFAULT_SENDER"]["required"] is False
    assert env["LOG_FORMAT"]["value"] == "json"
    # Heroku counts any exit of a dyno's command as a crash: worker caps need the supervisor.
    assert int(env["WORKER_PROCESSES"]["value"]) > 1
    # Heroku sends SIGKILL 30 s after SIGTERM.
    assert float(env["WORKER_SHUTDOWN_GRACE"]["value"]) < 30
