"""The sample service the pipeline deploys: a small notes API on PostgreSQL, built for blue/green."""
