"""Files in other apps' formats (Cherry Studio, Chatbox, LobeChat), built by the tests from the
structure those apps' public source documents, keys and URL quirks included."""
