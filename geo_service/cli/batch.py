"""``geo-service batch``: a partitioned shopping-difficulty run on Dask (see jobs.batch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from geo_service import settings
from geo_service.cli.common import ThresholdOpt
from geo_service.i18n import msg, msg_n, text_of
from geo_service.layers import FOOD_STORE_LAYER


def register(app: typer.Typer) -> None:
    """Add the ``batch`` command to the CLI."""

    @app.command()
    def batch(
        pbf: Annotated[Path, typer.Option("--pbf", "--network",
                                          help="OSM extract (.osm.pbf) of the whole extent.")],
        partitions: Annotated[Path, typer.Option(
            "--partitions", help="Polygon layer with codes: one partition per polygon.")],
        population: Annotated[list[Path], typer.Option(
            "--population", help="Population as `difficulty` reads it: points (CSV lon/lat or "
            "GeoJSON), polygons with counts, a mesh table, or an e-Stat table (repeat the "
            "option for the table and its shapefile).")],
        stores: Annotated[str, typer.Option(
            "--stores", help="Store CSV (lon, lat, category) or 'osm' (shops in the extract).")],
        out: Annotated[Path, typer.Option("--out", help="Output folder.")],
        areas: Annotated[list[Path] | None, typer.Option(
            "--areas", help="Area layer to report on (repeatable).")] = None,
        partition_id: Annotated[str | None, typer.Option(
            help="Column of the partition codes (default: guessed like area ids).")] = None,
        buffer: Annotated[float, typer.Option(
            help="Metres around each partition; points whose nearest store is farther are "
            "reported as censored.")] = 2000.0,
        threshold: ThresholdOpt = settings.threshold_m,
        speed: Annotated[float, typer.Option(help="Walking speed on the flat (m/s).")] =
            settings.walking_speed_mps,
        workers: Annotated[int | None, typer.Option(
            help="Worker processes of the LocalCluster (default: every core).")] = None,
        scheduler: Annotated[str | None, typer.Option(
            help="Use an existing Dask cluster, e.g. tcp://HOST:8786 (workers need the "
            "package and the output folder on a shared path).")] = None,
        scheduler_file: Annotated[Path | None, typer.Option(
            help="Use the cluster whose `dask scheduler --scheduler-file` wrote this file "
            "(HPC jobs started with srun/mpirun).")] = None,
        cluster: Annotated[str | None, typer.Option(
            help="Start the workers as batch jobs with dask-jobqueue: slurm, pbs, sge or lsf "
            "(queue, account, cores, memory, walltime from its dask config, e.g. "
            "~/.config/dask/jobqueue.yaml); --workers is the number of jobs.")] = None,
        crs: Annotated[str | None, typer.Option(
            help="One metric CRS every partition measures in, e.g. EPSG:6670 (default: "
            "each partition its own JGD2011 zone).")] = None,
        fresh: Annotated[bool, typer.Option(
            "--fresh", help="Recompute every partition (default: keep the finished ones of "
            "an interrupted run with the same inputs).")] = False,
        maps: Annotated[bool, typer.Option(
            "--maps/--no-maps", help="Write the overview map and one map per partition.")] =
            True,
        store_layer: Annotated[str, typer.Option(
            help="Resource layer definition (layers/NAME.toml or a path).")] = FOOD_STORE_LAYER,
    ) -> None:
        """Shopping difficulty over a large extract, one Dask task per partition.

        Writes the files of `difficulty` (points, areas, summary.json; plus
        GeoParquet, partitions.csv and an overview map) and partitions/<code>/.
        A rerun into the same --out computes only the missing partitions."""
        from geo_service._errors import InputError
        from geo_service.cli.common import console, fail, print_table, worst_areas
        from geo_service.jobs.batch import run_batch
        from geo_service.jobs.pipeline import Stages
        from geo_service.layers import load_resource_layer

        def progress(done: int, total: int, elapsed: float) -> None:
            if done % max(1, total // 20) and done != total:
                return  # about 20 lines for any number of partitions
            eta = elapsed / done * (total - done)
            console.print(msg("partitions {done}/{total}  elapsed {elapsed:.1f} s  ETA "
                              "{eta:.1f} s", done=done, total=total, elapsed=elapsed,
                              eta=eta).text())

        def stage(name: str) -> None:
            console.print(f"{text_of(STAGE_LABELS.get(name, name))} …")

        client = None
        try:
            client = _client(scheduler, scheduler_file, cluster, workers)
            result = run_batch(pbf=pbf, partitions=partitions, stores=stores,
                               population=population, areas=list(areas or []), out=out,
                               layer=load_resource_layer(store_layer),
                               partition_id=partition_id, buffer_m=buffer,
                               threshold_m=threshold, speed=speed, client=client,
                               workers=workers, progress=progress, crs=crs, fresh=fresh,
                               maps=maps, stages=Stages(on_start=stage))
        except InputError as exc:
            raise fail(exc) from exc
        finally:
            if client is not None:
                client.close()
                if client.cluster is not None and cluster is not None:
                    client.cluster.close()
        pts = result.points
        if result.failed:
            for f in result.failed:
                console.print(msg("[bold red]partition {id} failed:[/] {error}",
                                  id=f["partition_id"], error=f["error"]).text())
            console.print(msg_n("[bold red]{n} partition failed; {out} holds the others "
                                "(summary.json: complete false). Rerun to retry it.[/]",
                                "[bold red]{n} partitions failed; {out} holds the others "
                                "(summary.json: complete false). Rerun to retry them.[/]",
                                len(result.failed), out=out).text())
        console.print(msg("{points:,} demand points in {partitions} partitions, {censored:,} "
                          "censored (nearest store beyond {buffer:g} m) → {out}",
                          points=len(pts), partitions=len(result.partitions),
                          censored=int(pts["censored"].sum()), buffer=buffer,
                          out=out).text())
        if result.outside.get("rows"):
            console.print(msg("[yellow]{rows:,} population rows ({people:,.0f} people 65+) lie "
                              "in no partition and were not computed (summary.json: "
                              "outside_partitions).[/]", rows=result.outside["rows"],
                              people=result.outside["pop_65plus"]).text())
        if result.partition_areas is not None and len(result.partition_areas):
            print_table(worst_areas(result.partition_areas, threshold,
                                    file="partitions.csv"))
        if maps:
            console.print(msg("maps: {path} and partitions/*/map.html",
                              path=out / "map.html").text())
        if result.failed:
            raise typer.Exit(1)


STAGE_LABELS = {
    "read": msg("reading inputs, planning partitions"),
    "inputs": msg("each partition's people and stores"),
    "cut": msg("cutting the extract"),
    "partitions": msg("computing the partitions"),
    "merge": msg("merging, area figures"),
    "maps": msg("maps"),
    "write": msg("writing"),
}
JOBQUEUE = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster",
            "lsf": "LSFCluster"}


def _client(scheduler: str | None, scheduler_file: Path | None, cluster: str | None,
            workers: int | None) -> Any:
    """A Dask client for the chosen cluster, or None (run_batch starts a LocalCluster)."""
    from geo_service._errors import InputError

    if sum(x is not None for x in (scheduler, scheduler_file, cluster)) > 1:
        raise InputError(msg("give one of --scheduler, --scheduler-file and --cluster"))
    if scheduler is None and scheduler_file is None and cluster is None:
        return None
    from distributed import Client

    if scheduler is not None:
        return Client(scheduler)
    if scheduler_file is not None:
        if not scheduler_file.exists():
            raise InputError(msg("no scheduler file (is `dask scheduler --scheduler-file` "
                                 "running?)"), file=scheduler_file)
        return Client(scheduler_file=str(scheduler_file))
    if cluster not in JOBQUEUE:
        raise InputError(msg("unknown cluster kind; one of {kinds}", kinds=", ".join(JOBQUEUE)),
                         column="cluster", value=cluster)
    try:
        import dask_jobqueue
    except ImportError as exc:
        raise InputError(msg("--cluster needs dask-jobqueue: pip install "
                             "'geo-service[batch]'"), column="cluster", value=cluster) from exc
    try:
        jobs = getattr(dask_jobqueue, JOBQUEUE[cluster])()
    except ValueError as exc:  # e.g. no cores or memory configured
        raise InputError(msg("dask-jobqueue: {error} — set them under jobqueue.{cluster} in "
                             "~/.config/dask/jobqueue.yaml", error=exc, cluster=cluster),
                         column="cluster", value=cluster) from exc
    jobs.scale(jobs=workers or 1)
    return Client(jobs)
