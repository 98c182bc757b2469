"""Creates the one table of the benchmark's Django app and its rows, in the
database named by benchsite.settings (BENCH_PG_HOST...): no migrations
framework, the model's own CREATE TABLE (schema_editor). Idempotent: drops
the table first.

    cd bench/django_site && BENCH_PG_HOST=DIR python setup_db.py [ROWS]
"""
import datetime
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from items.models import Item  # noqa: E402

rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100
with connection.cursor() as c:
    c.execute("DROP TABLE IF EXISTS %s" % Item._meta.db_table)
with connection.schema_editor() as editor:
    editor.create_model(Item)
start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
Item.objects.bulk_create(
    Item(pk=i, title="Item %d" % i, description="The description of item %d, a few words long." % i,
         price_cents=100 * i + 99, created=start + datetime.timedelta(hours=i))
    for i in range(1, rows + 1))
print("bench_item: %d rows" % Item.objects.count())
