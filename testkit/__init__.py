"""A testing kit for people who write policies: time-skipping tests of their own rules in a few lines.

    async with case_world(policies=[Path("policies/my_marketplace.toml")]) as world:
        opened = await world.client.open(new_case)
        await world.skip_to_deadline(opened.case_id, before=timedelta(seconds=1))

Installed with the package, its pytest plugin (testkit.plugin) gives the same as the `case_world`
fixture. docs/testing-your-policy.md shows a whole test."""

from testkit.world import CaseWorld, KitError, case_world, time_skipping_server

__all__ = ["CaseWorld", "KitError", "case_world", "time_skipping_server"]
