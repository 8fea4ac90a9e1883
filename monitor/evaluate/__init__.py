"""Measure and tune routing on labelled streams: `brandmon evaluate --stream` and `brandmon calibrate`.

`labels` reads what each post is; `replay` runs the stream through the real classify and route steps offline;
`figures` turns the outcome into per-route precision and recall and the queue and Slack figures; `calibrate`
chooses route thresholds; `config_edit` writes them back into the config file.
"""
