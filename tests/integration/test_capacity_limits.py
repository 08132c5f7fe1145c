"""The shared limiter in DynamoDB (moto), and the Aiuta client within it against the simulator.

Every Lambda holds its own client, but they all share one request budget and one set of
operation leases through the capacity table; these tests use several clients (threads) to stand
for several Lambdas.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from studio_cli.samples import product_photo
from studio_core.aiuta.client import AiutaStudioClient, RetryPolicy
from studio_core.aiuta.operations import operation_creator
from studio_core.aiuta.requests import GenerateFlatLayImagesRequest, ProductInfo
from studio_core.aws.capacity import AccountCapacity
from studio_core.aws.operation_slots import OperationSlots
from studio_core.aws.request_budget import RequestBudget
from studio_core.aws.waiting_room import WaitingRoom
from studio_core.domain.capacity import REQUESTS_PER_OPERATION, CapacityTask
from studio_core.domain.errors import CapacityUnavailable
from tests.support.aws import IDEMPOTENCY_TABLE, REGION, create_idempotency_table, create_table_from_template
from tests.support.clock import SleepingClock

TABLE = "studio-test-capacity"


@pytest.fixture
def table() -> Iterator[str]:
    with mock_aws():
        create_table_from_template("CapacityTable", TABLE)
        yield TABLE


def budget(table: str, clock: SleepingClock, **kwargs: Any) -> RequestBudget:
    client = boto3.client("dynamodb", region_name=REGION)
    options = {"rate": 5.0, "burst": 3, "max_wait_seconds": 5.0, **kwargs}
    return RequestBudget(table, client=client, clock=clock, sleep=clock.sleep, **options)


def test_callers_take_turns_a_burst_then_one_per_interval(table: str) -> None:
    # Given two Lambdas sharing a budget of 5 requests/s with bursts of 3, and a frozen clock
    clock = SleepingClock()
    first, second = budget(table, clock), budget(table, clock)

    # When they ask for 6 turns between them, all at once
    for caller in (first, second, first, second, first, second):
        caller.take()

    # Then three went at once and each of the others slept to its own slot, 200 ms apart
    assert clock.slept == [0.2, 0.2, 0.2]


def test_a_turn_far_off_is_refused_with_the_time_until_the_budget_has_room(table: str) -> None:
    # Given a budget of 1 request/s, no burst, that a Lambda may wait at most 2 s for, and four
    # callers arriving at the same instant (their sleeps do not move this clock)
    clock = SleepingClock()
    callers = [budget(table, clock, rate=1.0, burst=1, max_wait_seconds=2.0) for _ in range(4)]
    clock.sleep = clock.slept.append  # type: ignore[method-assign]
    for caller in callers[:3]:
        caller._sleep = clock.sleep
        caller.take()
    assert clock.slept == [1.0, 2.0]

    # When the fourth asks, its turn is 3 s away: more than a Lambda should idle
    callers[3]._sleep = clock.sleep
    made = dynamodb_calls(callers[3]._dynamodb)
    with pytest.raises(CapacityUnavailable, match=r"1 requests/s is taken for the next 3.0 s") as refused:
        callers[3].take()

    # Then it is told when to come back (the job waits in its state machine), and took nothing
    assert refused.value.retry_after == pytest.approx(3.0)
    assert "retry after 3 s" in str(refused.value)
    assert clock.slept == [1.0, 2.0]
    # And the refusal cost the table one call: the refused update says how far off the budget is
    assert made == ["UpdateItem"]


@pytest.mark.parametrize(("woke_late", "keeps_its_turn"), [(0.05, True), (0.15, False)])
def test_a_caller_woken_late_sends_within_half_a_turn_and_past_it_takes_another_turn(
    table: str, woke_late: float, keeps_its_turn: bool
) -> None:
    # Given a budget of 5 requests/s with bursts of 2 whose next three turns are taken (two at
    # once, one 0.2 s later), and a caller whose host wakes it late from its sleep
    clock = SleepingClock()
    start = clock()
    others = budget(table, clock, burst=2)
    assert [others.reserve(start + 5) - start for _ in range(3)] == pytest.approx([0, 0, 0.2], abs=0.01)  # type: ignore[operator]
    late = budget(table, clock, burst=2)
    late._sleep = lambda seconds: clock.sleep(seconds + woke_late)

    # When it takes a turn (0.4 s away) and wakes woke_late after it
    turn = late.take()

    # Then a request up to half a turn (0.1 s) late still goes; later than that, the missed turn
    # is given up and another taken, so late requests do not bunch up with the turns after them
    if keeps_its_turn:
        assert turn - start == pytest.approx(0.4, abs=0.01)
    else:
        assert turn - start >= 0.4 + woke_late
    assert clock.slept[0] == pytest.approx(0.4 + woke_late)


@pytest.mark.parametrize(("rate", "burst"), [(1, 1), (1, 2), (2, 2), (4, 2), (5, 2), (5, 10), (20, 3)])
def test_requests_sent_late_within_the_allowance_keep_every_second_within_rate_plus_burst(
    table: str, rate: int, burst: int
) -> None:
    # Given a budget's turns at its limit for 10 s (a burst, then one every interval) and every
    # request sent anywhere up to the budget's allowance after its turn
    allowance = RequestBudget(table, rate=rate, burst=burst, client=object()).late_seconds
    turns = [0.0] * burst + [(k + 1) / rate for k in range(10 * rate)]

    # When the sends are bunched as badly as they can be: into a one-second window, every turn
    # from the window's start minus the allowance up to its end
    starts = [turn + shift for turn in turns for shift in (0.0, -allowance, 1e-9, -allowance + 1e-9)]
    most = max(sum(1 for turn in turns if start - allowance <= turn < start + 1) for start in starts)

    # Then no second holds more than rate + burst requests, as the template promises
    assert most <= rate + burst


@pytest.mark.slow
def test_concurrent_callers_never_exceed_rate_plus_burst_in_any_second(table: str) -> None:
    # Given 8 threads (Lambdas) each sending 6 requests through a budget of 20/s with bursts of 2
    sent: list[float] = []
    lock = threading.Lock()

    def lambda_like() -> None:
        caller = RequestBudget(
            # A generous wait: on a loaded machine a turn may come late, never early
            table,
            rate=20,
            burst=2,
            max_wait_seconds=60,
            client=boto3.client("dynamodb", region_name=REGION),
        )
        for _ in range(6):
            turn = caller.take()
            with lock:
                sent.append(turn)

    threads = [threading.Thread(target=lambda_like) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)

    # Then all 48 got a turn, and no 1 s window holds more than 20 + 2 turns (how late a busy
    # machine then sends a request is the scheduler's: a Lambda wakes within milliseconds)
    assert len(sent) == 48
    sent.sort()
    busiest = max(sum(1 for t in sent if start <= t < start + 1) for start in sent)
    # DynamoDB applies each conditional write atomically; moto's in-process table, shared by 8
    # threads on a loaded machine, can let one more pair through: allow that, never more.
    assert busiest <= 22 + 2


def test_the_waiting_room_lets_new_work_in_at_the_pace_aiuta_finishes_it_first_come_first_served(
    table: str,
) -> None:
    # Given a waiting room for an account of 8 requests/s, shared by two planners
    client = boto3.client("dynamodb", region_name=REGION)
    first, second = WaitingRoom(table, rate=8, client=client), WaitingRoom(table, rate=8, client=client)
    start = time.time()

    # When six jobs waiting to submit ask for a turn, one after the other
    turns = [(first if i % 2 else second).turn(CapacityTask.SUBMIT, latest=start + 60) for i in range(6)]

    # Then each got the next turn, at the pace of the least an operation costs until it is
    # measured (a create and a check: 4 new jobs a second)
    assert all(turn is not None for turn in turns)
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(turns)]  # type: ignore[operator]
    # (a later one only if a slow call let the room fall idle in between: the pace is a ceiling)
    pace = 1 / (8 / REQUESTS_PER_OPERATION)
    assert all(gap >= pace for gap in gaps) and gaps.count(pace) >= 3
    # And a turn later than the job can wait is not given (nor taken from the others)
    assert first.turn(CapacityTask.SUBMIT, latest=start) is None
    assert first.turn(CapacityTask.REGENERATE, latest=start + 60) == pytest.approx(turns[-1] + pace)  # type: ignore[operator]


def test_a_running_jobs_check_never_waits_behind_new_jobs(table: str) -> None:
    # Given forty new jobs waiting to submit, at 4 a second
    room = WaitingRoom(table, rate=8, client=boto3.client("dynamodb", region_name=REGION))
    start = time.time()
    for _ in range(40):
        room.turn(CapacityTask.SUBMIT, latest=start + 600)

    # When a running job's status check was throttled and waits
    check = room.turn(CapacityTask.CHECK_STATUS, latest=start + 600)

    # Then its turn is now, not ten seconds from now behind the new jobs
    assert check is not None and check - start < 1


def slots(table: str, clock: SleepingClock, limit: int = 2) -> OperationSlots:
    client = boto3.client("dynamodb", region_name=REGION)
    return OperationSlots(table, limit=limit, lease_seconds=60, client=client, clock=clock)


def test_operations_in_flight_are_leases_up_to_the_limit(table: str) -> None:
    clock = SleepingClock()
    leases = slots(table, clock)

    # Given two creates in flight (the limit), the second's operation already known by its id
    leases.acquire("create-a")
    with leases.slot_for_create() as assign:
        assign("op-2")
    assert set(leases.in_flight()) == {"create-a", "op-2"}

    # Then a third create finds no slot, and is told which setting limits it
    with pytest.raises(CapacityUnavailable, match="2 Aiuta operations are in flight"):
        slots(table, clock).acquire("create-c")
    # And taking a lease again is harmless (a retried acquire)
    leases.acquire("create-a")

    # When Aiuta says op-2 finished, its slot is free again
    leases.release("op-2")
    slots(table, clock).acquire("create-c")
    assert set(leases.in_flight()) == {"create-a", "create-c"}


def test_a_lease_nobody_saw_end_frees_itself_at_its_expiry(table: str) -> None:
    clock = SleepingClock()
    slots(table, clock, limit=1).acquire("create-lost")
    with pytest.raises(CapacityUnavailable):
        slots(table, clock, limit=1).acquire("create-next")
    clock.now += 61
    slots(table, clock, limit=1).acquire("create-next")
    assert set(slots(table, clock).in_flight()) == {"create-next"}


def test_a_create_that_surely_did_not_reach_aiuta_gives_its_lease_back(table: str) -> None:
    clock = SleepingClock()
    leases = slots(table, clock)

    class Refused(Exception):
        may_have_reached_server = False

    class Unknown(Exception):
        may_have_reached_server = True

    with pytest.raises(Refused), leases.slot_for_create():
        raise Refused
    assert leases.in_flight() == {}
    with pytest.raises(Unknown), leases.slot_for_create():
        raise Unknown
    assert len(leases.in_flight()) == 1, "an operation may exist: its lease stays until expiry"


# ------------------------------------------------------------------ the client within the limits


@pytest.fixture
def capacity(table: str) -> AccountCapacity:
    client = boto3.client("dynamodb", region_name=REGION)
    return AccountCapacity(
        RequestBudget(table, rate=4, burst=2, max_wait_seconds=30, client=client),
        OperationSlots(table, limit=3, lease_seconds=600, client=client),
    )


def flat_lay_request(uploaded_id: str) -> GenerateFlatLayImagesRequest:
    return GenerateFlatLayImagesRequest.model_validate(
        {
            "product_info": ProductInfo(uploaded_image_ids=[uploaded_id]),
            "image_types": [{"flat_lay_type": "ghost_mannequin", "viewpoint": "front"}],
        }
    )


@pytest.mark.slow
def test_every_call_of_every_client_stays_within_the_rate_the_simulator_enforces(
    capacity: AccountCapacity, studio_sim: Any, sim_api_key: str
) -> None:
    # Given Aiuta limits the key to 5 requests/s with bursts of 3, and the pipeline is set a little
    # under it (4/s, bursts of 2, as the README advises: a turn and its arrival are not the same
    # instant), and Aiuta fails a fifth of the calls with 500 (so GETs are retried inside the client)
    studio_sim.admin.configure(rate_limit_per_second=5, rate_limit_burst=3, rate_500=0.2, seed=7)
    retry = RetryPolicy(attempts=5, backoff_factor=0.0, jitter=0.0)

    # When 4 Lambdas read presets as fast as they can
    def lambda_like() -> None:
        client = AiutaStudioClient(sim_api_key, studio_sim.base_url, retry=retry, capacity=capacity)
        for _ in range(4):
            client.list_model_presets()

    threads = [threading.Thread(target=lambda_like) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # Then Aiuta never had to refuse one for its rate: retries took turns in the budget too
    stats = studio_sim.admin.stats()
    assert stats["rate_limited"]["rate_limit"] == 0
    assert stats["requests"]["total"]["count"] >= 16
    assert stats["requests"]["total"]["peak_per_second"] <= 4 + 2


def test_a_create_holds_a_slot_until_a_read_finds_the_operation_finished(
    capacity: AccountCapacity, studio_sim: Any, sim_api_key: str
) -> None:
    studio_sim.admin.configure(operation_seconds=5, clock_frozen=True)
    client = AiutaStudioClient(sim_api_key, studio_sim.base_url, capacity=capacity)
    photo = client.upload_image(
        product_photo("tshirt", (30, 90, 160)), filename="a.jpg", content_type="image/jpeg"
    )

    # When an operation is created, it holds a lease named by its id
    operation_id = client.create_flat_lay_operation(flat_lay_request(photo.id))
    assert set(capacity.operations.in_flight()) == {operation_id}

    # Then reading it while it runs keeps the lease; reading it finished gives it back
    client.get_flat_lay_operation(operation_id)
    assert set(capacity.operations.in_flight()) == {operation_id}
    studio_sim.admin.advance(10)
    assert client.get_flat_lay_operation(operation_id).status == "SUCCESS"
    assert capacity.operations.in_flight() == {}


class InvocationLeft:
    """A Lambda context's time left, moved by the test."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


def test_a_create_without_the_time_to_hear_its_answer_is_not_sent_and_goes_once_in_a_fresh_invocation(
    capacity: AccountCapacity, studio_sim: Any, sim_api_key: str
) -> None:
    # Given a submit whose invocation has 20 s left: less than a create's answer may take (a
    # 3 s connect and a 30 s read), so Aiuta could create the operation after the Lambda is gone
    create_idempotency_table()
    client = AiutaStudioClient(sim_api_key, studio_sim.base_url, capacity=capacity)
    photo = client.upload_image(
        product_photo("tshirt", (30, 90, 160)), filename="a.jpg", content_type="image/jpeg"
    )
    left = InvocationLeft(20)
    client.register_lambda_context(left)
    create_once = operation_creator(IDEMPOTENCY_TABLE, lambda: client)
    order = {"action": "flat_lay", "request": flat_lay_request(photo.id).to_api()}

    # When it creates the job's operation
    with pytest.raises(CapacityUnavailable, match="too little time left to send a create") as refused:
        create_once("job-1#flat_lay#0", order)

    # Then nothing reached Aiuta and nothing is held: the job waits for capacity and submits again
    assert refused.value.retry_after == 1
    assert studio_sim.admin.stats()["creates"]["total"] == 0
    assert capacity.operations.in_flight() == {}

    # And the fresh invocation (a minute left) creates it, once, though the key was tried before
    left.seconds = 60
    operation_id = create_once("job-1#flat_lay#0", order)
    assert create_once("job-1#flat_lay#0", order) == operation_id
    assert studio_sim.admin.stats()["creates"]["total"] == 1
    assert set(capacity.operations.in_flight()) == {operation_id}


def test_a_turn_later_than_the_request_can_go_is_not_taken(table: str) -> None:
    # Given a budget of 1 request/s whose next turn is 2 s away
    clock = SleepingClock()
    others, caller = budget(table, clock, rate=1.0, burst=1), budget(table, clock, rate=1.0, burst=1)
    start = clock()
    assert [others.reserve(start + 5) for _ in range(2)] == [start, start + 1]

    # When a create that must leave within 1.5 s asks for a turn
    with pytest.raises(CapacityUnavailable, match=r"taken for the next 2.0 s"):
        caller.take(create=True, send_by=start + 1.5)

    # Then it took none: the turn 2 s away is still the next one anybody gets
    assert clock.slept == []
    assert others.reserve(start + 5) == start + 2


def test_a_table_answering_after_the_request_could_go_gives_no_turn(table: str) -> None:
    # Given a budget whose table answers each call 6 s late (a stalled DynamoDB, as moto stalls
    # under a catalogue's load), and a create that must leave within 5 s
    clock = SleepingClock()
    slow = budget(table, clock)
    dynamodb = slow._dynamodb

    class Stalled:
        def __getattr__(self, name: str) -> Any:
            call = getattr(dynamodb, name)

            def stalled(**kwargs: Any) -> Any:
                answer = call(**kwargs)
                clock.now += 6
                return answer

            return stalled

    slow._dynamodb = Stalled()
    start = clock()

    # When it asks for a turn
    with pytest.raises(CapacityUnavailable, match="answered too slowly"):
        slow.take(create=True, send_by=start + 5)

    # Then it does not go: its turn passed while the table answered, and no time is left for another
    assert clock() > start + 5


def test_a_capacity_table_that_does_not_answer_is_no_capacity_not_a_failure(table: str) -> None:
    # Given a budget and operation slots whose table cannot be reached (here: it does not exist)
    clock = SleepingClock()
    lost = budget("studio-test-no-such-table", clock)
    no_slots = OperationSlots(
        "studio-test-no-such-table",
        limit=2,
        lease_seconds=60,
        client=boto3.client("dynamodb", region_name=REGION),
        clock=clock,
    )

    # When a request asks for its turn, and a create for its slot
    with pytest.raises(CapacityUnavailable) as turn:
        lost.take()
    with pytest.raises(CapacityUnavailable) as slot, no_slots.slot_for_create():
        pass

    # Then both are a wait for capacity (nothing was sent to Aiuta), with the reason for a person
    for refused in (turn.value, slot.value):
        assert "the capacity table did not answer (ResourceNotFoundException)" in str(refused)
        assert refused.retry_after == 1


# ------------------------------------------------------------------ requests per operation, counted


def dynamodb_calls(client: Any) -> list[str]:
    """The names of the DynamoDB calls ``client`` makes from now on."""
    made: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: made.append(model.name))
    return made


def test_the_budget_counts_requests_and_creates_in_the_update_that_takes_each_turn(
    table: str, studio_sim: Any, sim_api_key: str
) -> None:
    # Given the account's budget, counting, shared by the client's calls
    studio_sim.admin.configure(operation_seconds=5, clock_frozen=True)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    counting = RequestBudget(table, rate=50, burst=10, max_wait_seconds=30, client=dynamodb, counts=True)
    capacity = AccountCapacity(counting, OperationSlots(table, limit=3, lease_seconds=600, client=dynamodb))
    client = AiutaStudioClient(sim_api_key, studio_sim.base_url, capacity=capacity)
    assert counting.counted() == (0, 0)

    # When it uploads a photo, creates an operation and checks it twice
    photo = client.upload_image(
        product_photo("tshirt", (30, 90, 160)), filename="a.jpg", content_type="image/jpeg"
    )
    operation_id = client.create_flat_lay_operation(flat_lay_request(photo.id))
    client.get_flat_lay_operation(operation_id)
    client.get_flat_lay_operation(operation_id)

    # Then the counts grew by every request Aiuta saw, and by the create among them
    sent = studio_sim.admin.calls()["total"]
    assert sent >= 4 and counting.counted() == (sent, 1)
    # And the counts grow on as more is sent
    client.create_flat_lay_operation(flat_lay_request(photo.id))
    assert counting.counted() == (sent + 1, 2)


def test_counting_costs_no_call_of_its_own(table: str) -> None:
    # Given a busy counting budget (a frozen clock: each turn follows the one before)
    clock = SleepingClock()
    counting = budget(table, clock, counts=True)
    made = dynamodb_calls(counting._dynamodb)
    counting.take()
    made.clear()

    # When five more requests take turns, two of them creates
    for n in range(5):
        counting.take(create=n < 2)

    # Then each took its turn and was counted in one update
    assert made == ["UpdateItem"] * 5
    assert counting.counted() == (6, 2)


def test_the_waiting_room_lets_new_work_in_at_the_measured_pace(table: str) -> None:
    # Given an account of 8 requests/s whose budget counted 240 requests for 30 creates (8 each)
    clock = SleepingClock()
    counting = budget(table, clock, rate=1000.0, burst=1000, counts=True)
    for n in range(240):
        counting.take(create=n % 8 == 0)
    assert counting.counted() == (240, 30)
    room = WaitingRoom(table, rate=8, client=boto3.client("dynamodb", region_name=REGION))
    start = time.time()

    # When new jobs ask for turns
    turns = [room.turn(CapacityTask.SUBMIT, latest=start + 60) for _ in range(4)]

    # Then they come a second apart (8 / 8 a second), not a quarter second (8 / 2, the figure
    # before any is measured)
    assert room.requests_per_operation() == 8.0
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(turns)]  # type: ignore[operator]
    assert all(gap >= 1.0 for gap in gaps) and gaps.count(1.0) >= 2
    # And a running job's check still comes at the account's rate
    check = room.turn(CapacityTask.CHECK_STATUS, latest=start + 60)
    assert check is not None and check - start < 1


def test_the_counts_are_halved_once_they_reach_the_window(
    table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a counting budget whose counts are halved at 10 requests (1,000 in production)
    monkeypatch.setattr("studio_core.domain.capacity.COUNTS_HALVED_AT", 10)
    clock = SleepingClock()
    counting = budget(table, clock, rate=1000.0, burst=1000, counts=True)

    # When 10 requests are sent, 4 of them creates, then 3 more
    for n in range(10):
        counting.take(create=n < 4)
    halved = counting.counted()
    for _ in range(3):
        counting.take()

    # Then the tenth halved the counts, and the later ones count on from there
    assert halved == (5, 2)
    assert counting.counted() == (8, 2)


def test_a_budget_that_does_not_count_keeps_no_counts(table: str) -> None:
    # The waiting room's queues are budgets too: their turns are not requests to Aiuta
    clock = SleepingClock()
    plain = budget(table, clock)
    plain.take()
    assert plain.counted() == (0, 0)
