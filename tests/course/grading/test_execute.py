"""The grader's notebook client polls its kernel in slices (issue 18), on the sync path that ``_execute`` takes."""

import pytest

from reglab.course.grading.execute import _client_class


def test_the_graders_client_polls_shell_and_iopub_in_slices(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    client = _client_class()(notebook, kernel_name="python3", timeout=60, allow_errors=True, max_output=10 ** 6,
                             student_cells=1, resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():                                   # as _execute starts it
        assert client.kc.shell_channel.get_msg.__name__ == "get_msg_sliced"
        assert client.kc.iopub_channel.get_msg.__name__ == "get_msg_sliced"
        client.execute_cell(notebook.cells[0], 0)
    assert [o.get("text") for o in notebook.cells[0].outputs] == ["42\n"] and not client.timed_out
