"""template.yaml's parts for operators: the job event bus, the alarms' topic, the dashboard."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.template import load_template, props


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def test_every_function_knows_the_job_event_bus(template: dict[str, Any], resources: dict[str, Any]) -> None:
    assert resources["StudioEventBus"]["Type"] == "AWS::Events::EventBus"
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    # GetAtt Name (not Ref): the same on AWS, and what moto's CloudFormation resolves correctly
    assert env["EVENT_BUS_NAME"] == {"Fn::GetAtt": ["StudioEventBus", "Name"]}
    assert template["Outputs"]["EventBusName"]["Value"] == {"Fn::GetAtt": ["StudioEventBus", "Name"]}


@pytest.mark.parametrize("function", ["FinalizeFunction", "RecordFailureFunction"])
def test_the_tasks_that_end_a_job_may_put_its_event_and_write_its_gallery(
    translated: dict[str, Any],
    function: str,
) -> None:
    role = translated["Resources"][f"{function}Role"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    actions = {
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }

    assert "events:PutEvents" in actions
    # The gallery copies the inputs beside the outputs: read and write in the bucket
    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket"} <= actions


def test_alarms_notify_the_given_topic_or_one_the_stack_creates(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    conditions = template["Conditions"]
    assert conditions["HasAlarmTopic"] == {
        "Fn::Or": [{"Condition": "GivenAlarmTopic"}, {"Condition": "CreateAlarmTopic"}]
    }
    assert resources["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    assert props(resources, "AlarmTopic")["KmsMasterKeyId"] == "alias/aws/sns"
    assert props(resources, "AlarmTopicEmail") == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    topic = {"Fn::If": ["GivenAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) >= 7
    for alarm in alarms:
        assert alarm["AlarmActions"] == {"Fn::If": ["HasAlarmTopic", [topic], {"Ref": "AWS::NoValue"}]}


def test_the_dashboard_charts_the_new_parts_and_shows_every_alarm(resources: dict[str, Any]) -> None:
    body = props(resources, "StudioDashboard")["DashboardBody"]["Fn::Sub"]
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    lines = [line for widget in dashboard["widgets"] for line in widget["properties"].get("metrics", [])]
    service = ["service", "studio-pipeline"]

    # Job events and galleries, capacity waits, PARTIAL jobs, catalogue runs
    for metric in (
        "JobEventsNotPut",
        "GalleryNotWritten",
        "CapacityWaits",
        "CapacityWaitsGivenUp",
        "JobsPartial",
    ):
        assert ["StudioPipeline", metric, *service] in lines, metric
    for metric in ("CataloguesStarted", "CatalogueRuns", "CatalogueRowsRejected"):
        assert ["StudioPipeline", metric, *service] in lines, metric
    assert "${StudioEventBus.Name}" in body and "${CatalogueStateMachine}" in body
    # And an alarm widget lists every alarm of the template
    (alarm_widget,) = [w for w in dashboard["widgets"] if w["type"] == "alarm"]
    alarms = sorted(name for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm")
    assert len(alarm_widget["properties"]["alarms"]) == len(alarms)
    assert all(f"${{{name}.Arn}}" in body for name in alarms)


def test_capacity_and_catalogue_alarms_watch_the_new_parts(resources: dict[str, Any]) -> None:
    given_up = props(resources, "CapacityWaitsGivenUpAlarm")
    assert (given_up["Namespace"], given_up["MetricName"]) == ("StudioPipeline", "CapacityWaitsGivenUp")
    catalogue = props(resources, "CatalogueRunsFailedAlarm")
    assert catalogue["Dimensions"][0]["Value"] == {"Ref": "CatalogueStateMachine"}
