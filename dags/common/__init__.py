"""What the four DAG files share: their tasks' retry policy and the operators' mail.

Not a DAG file: ``dags/.airflowignore`` keeps the DAG processor from parsing this folder, and
Airflow puts the DAGs folder on ``sys.path``, so the DAG files import it as ``common``.
"""

from common.defaults import alarm_mail, task_defaults

__all__ = ["alarm_mail", "task_defaults"]
