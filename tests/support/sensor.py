"""One evaluation of the ``account_sync_sensor`` the way the daemon does it (resources bound,
jobs and partitions resolved, inside ``partition_loading_context``), its partition requests then
applied to the instance as the daemon would."""

from __future__ import annotations

from typing import Any


def tick(instance: Any) -> Any:
    """The tick's ``SensorResult`` (run requests and partition requests)."""
    import dagster as dg
    from dagster._core.definitions.partitions.context import partition_loading_context

    from pos_dagster.definitions import defs
    from pos_dagster.lib.resources import pos_resources

    sensor = defs.get_repository_def().get_sensor_def("account_sync_sensor")
    with partition_loading_context(dynamic_partitions_store=instance), \
            dg.build_sensor_context(instance_ref=instance.get_ref(), definitions=defs,
                                    resources=pos_resources()) as context:
        data = sensor.evaluate_tick(context)
    for request in data.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
    return dg.SensorResult(run_requests=list(data.run_requests or []),
                           dynamic_partitions_requests=list(data.dynamic_partitions_requests or []))
