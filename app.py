"""RNN Lab's entry point: navigation over the learning path, the shared sidebar, then the page."""
import streamlit as st

from lab_ui import allocator, nav, widgets

allocator.keep_temporaries_in_heap()  # training temporaries reuse heap memory (lab_ui/allocator.py)

page = st.navigation([
    st.Page(spec.path, title=spec.title, icon=spec.icon, url_path=spec.url_path,
            default=spec is nav.HOME)
    for spec in nav.existing_pages()
])
st.set_page_config(
    page_title="RNN Lab" if page.url_path == "" else f"{page.title} · RNN Lab",
    page_icon=":material/linear_scale:",
    layout="wide",
    menu_items={"About": "RNN Lab: recurrent neural networks you can take apart."},
)
widgets.sidebar()
page.run()
