import Storage
import Testing

@Suite struct QueryNormalizerTests {
    @Test func collapsesWhitespaceAndLowercases() {
        #expect(QueryNormalizer.normalize("  How do I\tINSTALL \n it? ") == "how do i install it?")
        #expect(QueryNormalizer.displayForm("  How do I\tINSTALL \n it? ") == "How do I INSTALL it?")
    }

    @Test func keepsPunctuation() {
        #expect(QueryNormalizer.normalize("C++") != QueryNormalizer.normalize("C"))
    }

    @Test func blankIsEmpty() {
        #expect(QueryNormalizer.normalize(" \n\t ").isEmpty)
    }
}
